"""Translation model packages: reading, verifying, installing, removing and discovering them.

Two formats operators already have are accepted:

* an Argos Translate package (``.argosmodel``): a zip holding one folder with ``metadata.json``
  (``from_code``, ``to_code``, ``package_version``), ``model/`` (CTranslate2) and
  ``sentencepiece.model`` (often the source side only), maybe ``stanza/`` and a README;
* a CTranslate2 model directory (``model.bin``, ``config.json``, vocabularies) with its
  SentencePiece model(s): ``source.spm``/``target.spm`` as OPUS-MT ships them, or one
  ``sentencepiece.model``; the pair comes from ``metadata.json``, the caller, or an
  ``opus-mt-xx-yy`` folder name.

Installed models live in ``$POLYDESK_HOME/models/translate/<pair>/`` and are recorded in
``$POLYDESK_HOME/models/translate/manifest.json`` (pair, source, version, package sha256,
licence, and the sha256 of every file, checked before first use). Packages already unpacked
by Argos Translate on this machine (``$ARGOS_PACKAGES_DIR``, else
``$XDG_DATA_HOME/argos-translate/packages``) are discovered and usable as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConflictError, InvalidValueError, NotFoundError
from ..languages import normalise_code
from ..triage import registry
from .errors import DownloadError, PackageError

KIND = "translation"
UNKNOWN_LICENCE = "unknown — see package"
_SPM_NAMES = (("source.spm", "target.spm"), ("sentencepiece.model", None), ("spm.model", None))
_LICENCE = re.compile(
    r"\b(CC[- ]BY(?:[- ](?:SA|NC|ND))*[- ]\d\.\d|MIT|Apache[- ]2\.0|GPL-?\dv?(?:\.\d)?|"
    r"BSD-\d-Clause)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ModelPackage:
    """A translation model ready to load: where its files are and what is known about it."""

    source: str
    target: str
    model_dir: Path
    source_spm: Path
    target_spm: Path | None
    version: str
    licence: str
    origin: str  # "installed" or "discovered"
    location: str  # where it came from: a path or URL (installed), its folder (discovered)
    sha256: str | None = None  # of the package file (installed); None when discovered

    @property
    def pair(self) -> str:
        return f"{self.source}-{self.target}"

    @property
    def key(self) -> str:
        """Identifies the model's weights, for the translation memory."""
        return f"{self.pair}:{self.version}:{(self.sha256 or str(self.model_dir))[:16]}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "from": self.source,
            "to": self.target,
            "version": self.version,
            "origin": self.origin,
            "licence": self.licence,
            "source": self.location,
            "sha256": self.sha256,
            "path": str(self.model_dir.parent),
        }


def translate_dir() -> Path:
    return registry.operator_dir() / "translate"


def argos_packages_dir() -> Path:
    """Where Argos Translate keeps unpacked packages (its own rules, read-only for us)."""
    env = os.environ.get("ARGOS_PACKAGES_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "argos-translate" / "packages"


# -- reading a package ------------------------------------------------------------------------


def read_package(
    root: Path, *, source: str | None = None, target: str | None = None, origin: str = "installed"
) -> ModelPackage:
    """Describe the unpacked package (or CTranslate2 directory) at ``root``, checking its files."""
    metadata = _metadata(root)
    model_dir = root / "model" if (root / "model" / "model.bin").exists() else root
    for name in ("model.bin", "config.json"):
        if not (model_dir / name).is_file():
            raise PackageError(str(root), f"{name} is missing (not a CTranslate2 model)")
    src_spm, tgt_spm = _spm_files(root, model_dir)
    pair = _pair(root, metadata, source, target)
    return ModelPackage(
        source=pair[0],
        target=pair[1],
        model_dir=model_dir,
        source_spm=src_spm,
        target_spm=tgt_spm,
        version=str(metadata.get("package_version", metadata.get("version", "unknown"))),
        licence=_licence(root, metadata),
        origin=origin,
        location=str(root),
    )


def _metadata(root: Path) -> dict[str, Any]:
    path = root / "metadata.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(str(path), f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise PackageError(str(path), "expected a JSON object")
    return data


def _spm_files(root: Path, model_dir: Path) -> tuple[Path, Path | None]:
    for folder in dict.fromkeys((root, model_dir)):
        for src_name, tgt_name in _SPM_NAMES:
            if (folder / src_name).is_file():
                target = folder / tgt_name if tgt_name and (folder / tgt_name).is_file() else None
                return folder / src_name, target
    names = ", ".join(n for pair in _SPM_NAMES for n in pair if n)
    raise PackageError(str(root), f"no SentencePiece model ({names})")


def _pair(
    root: Path, metadata: dict[str, Any], source: str | None, target: str | None
) -> tuple[str, str]:
    guessed = re.search(r"opus-mt-([a-z]{2,3})-([a-z]{2,3})$", root.name)
    found_source = source or metadata.get("from_code") or (guessed and guessed.group(1))
    found_target = target or metadata.get("to_code") or (guessed and guessed.group(2))
    if not found_source or not found_target:
        raise PackageError(
            str(root), "the language pair is unknown: no metadata.json; give --from and --to"
        )
    codes = []
    for field, code in (("from_code", found_source), ("to_code", found_target)):
        try:
            codes.append(normalise_code(str(code)))
        except KeyError:
            raise PackageError(
                str(root), f"{field} {code!r} is not one of polydesk's 35 languages"
            ) from None
    if codes[0] == codes[1]:
        raise PackageError(str(root), f"translates {codes[0]} into itself")
    return codes[0], codes[1]


def _licence(root: Path, metadata: dict[str, Any]) -> str:
    for key in ("license", "licence"):
        if isinstance(metadata.get(key), str) and metadata[key].strip():
            return str(metadata[key]).strip()
    for name in ("README.md", "README", "LICENSE", "LICENSE.md"):
        path = root / name
        if path.is_file():
            found = _LICENCE.search(path.read_text("utf-8", errors="replace"))
            if found:
                value = re.sub(r"\s+", "-", found.group(1))
                return value.upper() if value.lower().startswith("cc") else value
    return UNKNOWN_LICENCE


def check_loads(package: ModelPackage) -> None:
    """Load the model and its tokenizer(s) once, so a broken package fails at install."""
    ctranslate2 = registry.require("ctranslate2", "ctranslate2", "translation")
    spm = registry.require("sentencepiece", "sentencepiece", "translation")
    for path in filter(None, (package.source_spm, package.target_spm)):
        try:
            spm.SentencePieceProcessor(model_file=str(path))
        except (OSError, RuntimeError) as exc:
            raise PackageError(str(path), f"not a SentencePiece model ({exc})") from None
    try:
        ctranslate2.Translator(str(package.model_dir), device="cpu", compute_type="int8")
    except (OSError, RuntimeError, ValueError) as exc:
        raise PackageError(str(package.model_dir), f"CTranslate2 cannot load it ({exc})") from None


# -- installing -------------------------------------------------------------------------------


def install(
    location: str,
    *,
    source: str | None = None,
    target: str | None = None,
    force: bool = False,
    provenance: str | None = None,
) -> tuple[ModelPackage, bool]:
    """Install a package from a path or URL (recorded as its source, unless ``provenance``
    says better where it came from). Returns it and whether anything changed."""
    base = translate_dir()
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".install-", dir=base) as work:
        path = _fetch(location, Path(work)) if _is_url(location) else Path(location).expanduser()
        if not path.exists():
            raise NotFoundError(f"no model package at {location}")
        digest = _package_sha256(path)
        same = [p for p in installed().values() if p.sha256 == digest]
        if same and not (force or source or target):
            return same[0], False
        root = _unpack(path, Path(work) / "unpacked") if path.is_file() else path
        package = read_package(root, source=source, target=target)
        existing = installed().get(package.pair)
        if existing is not None and not force:
            if existing.sha256 == digest:
                return existing, False
            raise ConflictError(
                f"{package.pair} is already installed (version {existing.version}, from "
                f"{existing.location}); use --force to replace it"
            )
        check_loads(package)
        origin = provenance or location
        return _place(package, root, origin, digest, owned=path.is_file()), True


def _is_url(location: str) -> bool:
    return re.match(r"^(https?|file)://", location) is not None


def _fetch(url: str, work: Path) -> Path:
    name = Path(urllib.request.url2pathname(url.rsplit("/", 1)[-1])).name or "package"
    dest = work / name
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"could not download {url}: {reason}") from None
    return dest


def _package_sha256(path: Path) -> str:
    """sha256 of a package file; of the sorted (path, file sha256) list for a directory."""
    if path.is_file():
        return registry.sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}\0{registry.sha256_file(file)}\n".encode())
    return digest.hexdigest()


def _unpack(path: Path, dest: Path) -> Path:
    """Extract a zip package after checking it, and return the folder holding its files."""
    if not zipfile.is_zipfile(path):
        raise PackageError(str(path), "not a zip file (an .argosmodel is one) nor a directory")
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad is not None:
            raise PackageError(str(path), f"{bad} is corrupt (CRC mismatch)")
        for member in archive.namelist():
            if member.startswith("/") or ".." in Path(member).parts:
                raise PackageError(str(path), f"unsafe path {member!r} in the archive")
        archive.extractall(dest)
    found = [m.parent for m in dest.rglob("metadata.json")] or [
        m.parent.parent if m.parent.name == "model" else m.parent for m in dest.rglob("model.bin")
    ]
    if not found:
        raise PackageError(str(path), "neither metadata.json nor model/model.bin inside")
    return min(found, key=lambda p: len(p.parts))


def _place(
    package: ModelPackage, root: Path, location: str, digest: str, *, owned: bool
) -> ModelPackage:
    """Move (what we unpacked) or copy (the operator's directory) into place, then record it."""
    base = translate_dir()
    staging = base / f".{package.pair}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    if owned:
        root.rename(staging)
    else:
        shutil.copytree(root, staging)
    dest = base / package.pair
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    placed = read_package(dest, source=package.source, target=package.target)
    files = [placed.source_spm, placed.target_spm, *_model_files(placed.model_dir)]
    entry: dict[str, Any] = {
        "kind": KIND,
        "pair": package.pair,
        "from": package.source,
        "to": package.target,
        "version": package.version,
        "licence": package.licence,
        "source": location,
        "sha256": digest,
        "installed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": str(placed.model_dir.relative_to(base)),
        "source_spm": str(placed.source_spm.relative_to(base)),
        "target_spm": str(placed.target_spm.relative_to(base)) if placed.target_spm else None,
        "files": {str(f.relative_to(base)): {} for f in files if f is not None},
    }
    registry.Manifest.load(base).record(_name(package.pair), entry, base)
    return installed()[package.pair]


def _model_files(model_dir: Path) -> list[Path]:
    return sorted(p for p in model_dir.iterdir() if p.is_file())


def _name(pair: str) -> str:
    return f"translate:{pair}"


def remove(pair: str) -> ModelPackage:
    """Uninstall the model of ``pair`` (``zh-en``); discovered Argos packages are not ours."""
    found = installed().get(pair)
    if found is None:
        raise NotFoundError(f"no installed model for {pair} (see `polydesk models list`)")
    base = translate_dir()
    manifest = registry.Manifest.load(base)
    manifest.data["models"].pop(_name(pair), None)
    # registry.Manifest can only add entries: write the smaller one the same atomic way.
    tmp = base / (registry.MANIFEST + ".partial")
    tmp.write_text(json.dumps(manifest.data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    tmp.replace(base / registry.MANIFEST)
    shutil.rmtree(base / pair, ignore_errors=True)
    return found


def parse_pair(value: str) -> str:
    """``zh-en``, ``zh_en`` or ``zh->en`` as a normalised pair name."""
    parts = [p for p in re.split(r"->|[-_:/ ]", value.strip()) if p]
    try:
        if len(parts) == 2:
            return "-".join(normalise_code(p) for p in parts)
    except KeyError:
        pass
    raise InvalidValueError("pair", f"{value!r}: use two of the 35 codes, like zh-en")


# -- what is available ------------------------------------------------------------------------


def installed() -> dict[str, ModelPackage]:
    """Installed models by pair, as the manifest records them (files checked at load)."""
    base = translate_dir()
    out = {}
    for entry in registry.Manifest.load(base).models.values():
        if entry.get("kind") != KIND:
            continue
        target_spm = entry.get("target_spm")
        out[entry["pair"]] = ModelPackage(
            source=entry["from"],
            target=entry["to"],
            model_dir=base / entry["model"],
            source_spm=base / entry["source_spm"],
            target_spm=base / target_spm if target_spm else None,
            version=entry["version"],
            licence=entry["licence"],
            origin="installed",
            location=entry["source"],
            sha256=entry["sha256"],
        )
    return out


def verify(package: ModelPackage) -> None:
    """Check an installed model's files against its manifest before it is used."""
    if package.origin != "installed":
        return
    base = translate_dir()
    name = _name(package.pair)
    registry.verify_files(name, registry.Manifest.load(base).entry(name), base)


def discovered() -> dict[str, ModelPackage]:
    """Packages unpacked by Argos Translate on this machine, by pair (unusable ones skipped)."""
    folder = argos_packages_dir()
    out: dict[str, ModelPackage] = {}
    if not folder.is_dir():
        return out
    for root in sorted(p for p in folder.iterdir() if (p / "metadata.json").is_file()):
        try:
            package = read_package(root, origin="discovered")
        except PackageError:
            continue  # another language, a sentence-boundary package, a broken folder
        out.setdefault(package.pair, package)
    return out


def available() -> dict[str, ModelPackage]:
    """Every usable model by pair: the installed ones win over discovered ones."""
    return {**discovered(), **installed()}
