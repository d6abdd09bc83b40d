"""Pipeline embeddings cached on disk, for the model-building and report scripts.

The cache (models/build/cache, never committed) is keyed by the encoder file's sha256, the form
the pipeline gives texts to the encoder (``pipeline.ENCODER_TEXT_FORM``) and the exact texts, so
a rebuilt encoder, a new text form or a changed row never reads a stale entry.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from polydesk.triage import registry
from polydesk.triage.encoder import GENERAL
from polydesk.triage.pipeline import ENCODER_TEXT_FORM, Pipeline

CACHE = Path(__file__).resolve().parents[1] / "models" / "build" / "cache"


def build_key() -> str:
    """What cached embeddings depend on besides their texts: the encoder build and the form
    the pipeline gives texts to it."""
    encoder = registry.build_dir() / "e5-small" / "encoder.onnx"
    return f"{registry.sha256_file(encoder)[:12]}-{ENCODER_TEXT_FORM}"


class Embedder:
    """``Embedder(pipeline, view)(texts)``: one encoder view (``general`` by default)."""

    def __init__(self, pipeline: Pipeline | None = None, view: str = GENERAL) -> None:
        self.pipeline = pipeline or Pipeline()
        self.view = view
        self.tag = build_key() + ("" if view == GENERAL else f":{view}")

    def path(self, texts: list[str]) -> Path:
        key = hashlib.sha256("\n".join([self.tag, *texts]).encode()).hexdigest()[:20]
        return CACHE / f"{key}.npy"

    def __call__(self, texts: list[str]) -> np.ndarray:
        return cached_views([self], texts)[self.view]


def cached_views(embedders: Sequence[Embedder], texts: list[str]) -> dict[str, np.ndarray]:
    """Several views of the same texts (one embedder per view, one pipeline); those not
    cached come from one encoder pass."""
    paths = {e.view: e.path(texts) for e in embedders}
    found = {view: np.asarray(np.load(path)) for view, path in paths.items() if path.exists()}
    missing = [view for view in paths if view not in found]
    if missing:
        names = ", ".join(missing)
        print(f"embedding {len(texts)} texts ({names}) ...", file=sys.stderr, flush=True)
        computed = embedders[0].pipeline.embed_views(texts, missing)
        CACHE.mkdir(parents=True, exist_ok=True)
        for view in missing:
            np.save(paths[view], computed[view])
            found[view] = computed[view]
    return {view: found[view] for view in paths}
