"""Where models live and what the manifests say about them.

Two places hold models:

* the shipped ones: ``models/`` of the source tree (installed as ``polydesk.models``), with
  ``models/manifest.json`` naming every model polydesk uses — built artefacts (the e5 encoder,
  built by ``scripts/build_encoder.py`` into ``models/build/``), the heads trained here and
  committed, and the detectors shipped inside PyPI packages — each with sha256, source and
  licence;
* the operator's: ``$POLYDESK_HOME/models`` (the data dir), where ``polydesk intents train``
  writes named heads and records them in a manifest of the same shape.

Files are verified against their manifest's sha256 before first use.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import config
from ..errors import IntegrityError, NotFoundError, PolydeskError

MANIFEST = "manifest.json"


class RuntimeMissingError(PolydeskError):
    """A package a model needs at run time is not installed."""


def require(module: str, package: str, purpose: str) -> ModuleType:
    """Import ``module`` for ``purpose``, or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeMissingError(
            f"{purpose} needs the '{package}' package (pip install {package})"
        ) from exc


_HASHES: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def shipped_dir() -> Path:
    """The shipped ``models/`` directory (installed as package data ``polydesk.models``)."""
    return Path(str(resources.files("polydesk.models")))


def build_dir() -> Path:
    """Where built artefacts live: ``$POLYDESK_MODELS``, else ``models/build`` of the tree."""
    env = os.environ.get("POLYDESK_MODELS")
    return Path(env) if env else shipped_dir() / "build"


def operator_dir() -> Path:
    return config.data_dir() / "models"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, memoised per process by (path, mtime, size)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        if key in _HASHES:
            return _HASHES[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    with _LOCK:
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


@dataclass(frozen=True)
class Manifest:
    """A ``manifest.json``: ``{"models": {name: {kind, files: {rel: {sha256, size}}, ...}}}``."""

    root: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, root: Path) -> Manifest:
        path = root / MANIFEST
        data = json.loads(path.read_text("utf-8")) if path.exists() else {"models": {}}
        return cls(root, data)

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["models"])

    def entry(self, name: str) -> dict[str, Any]:
        try:
            return dict(self.data["models"][name])
        except KeyError:
            raise NotFoundError(f"no model {name!r} in {self.root / MANIFEST}") from None

    def record(self, name: str, entry: dict[str, Any], base: Path) -> None:
        """Add or replace ``name``, hashing its files (relative to ``base``); write atomically."""
        files = {
            rel: {"sha256": sha256_file(base / rel), "size": (base / rel).stat().st_size}
            for rel in entry.get("files", {})
        }
        self.data["models"][name] = {**entry, "files": files}
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / (MANIFEST + ".partial")
        tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        tmp.replace(self.root / MANIFEST)


def verify_files(name: str, entry: dict[str, Any], base: Path) -> None:
    """Check that every file of a manifest entry exists with the recorded size and sha256."""
    for rel, expected in entry.get("files", {}).items():
        path = base / rel
        if not path.exists():
            hint = entry.get("build", "")
            raise NotFoundError(
                f"model {name!r}: {path} is missing" + (f"; run {hint}" if hint else "")
            )
        if path.stat().st_size != expected["size"] or sha256_file(path) != expected["sha256"]:
            raise IntegrityError(f"model {name!r}: {path} does not match its manifest sha256")


def verify_external(name: str, path: Path) -> None:
    """Check a model file that ships inside another package against the shipped manifest."""
    entry = Manifest.load(shipped_dir()).entry(name)
    if sha256_file(path) != entry["sha256"]:
        raise IntegrityError(
            f"model {name!r}: {path} is not the file polydesk was trained with "
            f"({entry['source']}); install that version"
        )
