"""Pipeline embeddings cached on disk, for the model-building and report scripts.

The cache (models/build/cache, never committed) is keyed by the encoder file's sha256 and the
exact texts, so a rebuilt encoder or a changed row never reads a stale entry.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from polydesk.triage import registry
from polydesk.triage.encoder import GENERAL
from polydesk.triage.pipeline import Pipeline

CACHE = Path(__file__).resolve().parents[1] / "models" / "build" / "cache"


class Embedder:
    """``Embedder(pipeline, view)(texts)``: one encoder view (``general`` by default)."""

    def __init__(self, pipeline: Pipeline | None = None, view: str = GENERAL) -> None:
        self.pipeline = pipeline or Pipeline()
        self.view = view
        encoder = registry.build_dir() / "e5-small" / "encoder.onnx"
        self.tag = registry.sha256_file(encoder)[:12] + ("" if view == GENERAL else f":{view}")

    def __call__(self, texts: list[str]) -> np.ndarray:
        key = hashlib.sha256("\n".join([self.tag, *texts]).encode()).hexdigest()[:20]
        path = CACHE / f"{key}.npy"
        if path.exists():
            return np.asarray(np.load(path))
        print(f"embedding {len(texts)} texts ...", file=sys.stderr, flush=True)
        vectors = self.pipeline.embed(texts, view=self.view)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        return vectors
