"""Per-language centring of e5 embeddings: what makes a head trained on one language carry over.

Every language sits in its own region of the multilingual embedding space: the same request in
Lithuanian and in English differ by a language offset before they differ by meaning. A head
fitted on English embeddings reads that offset as evidence. Subtracting each language's mean
embedding over unlabelled support messages of that language (and renormalising) removes most of
it: on polydesk's development rows, an English-only head went from 62.7% to 70.0% in the other
34 languages (docs/intent-quality.md). Means over news text (NTREX) helped half as much: the
offset is partly domain, so the means come from support messages.

The shipped means (``models/centring/support.npy``, and ``support.<view>.npy`` for each adapted
encoder view such as ``intent``) are computed by scripts/build_heads.py over the texts of
models/intents/train — labels unused. A head records whether it was trained on
centred embeddings (``HeadInfo.centred``); the pipeline centres before such a head, with the
language it detected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..languages import CODES
from . import registry
from .encoder import GENERAL

MEANS = Path("centring") / "support.npy"
ENTRY = "centring:support"


def means_path(view: str = GENERAL) -> Path:
    """Where the shipped means of an encoder view live, relative to models/."""
    return MEANS if view == GENERAL else MEANS.with_name(f"support.{view}.npy")


class Centring:
    """Language means [35, dim] in CODES order; an unknown language gets their average."""

    def __init__(self, means: np.ndarray) -> None:
        if means.shape[0] != len(CODES):
            raise ValueError(f"expected {len(CODES)} language means, got {means.shape[0]}")
        self.means = means.astype(np.float32)
        self.fallback = self.means.mean(axis=0)
        self.index = {code: i for i, code in enumerate(CODES)}

    @classmethod
    def shipped(cls, view: str = GENERAL) -> Centring:
        manifest = registry.Manifest.load(registry.shipped_dir())
        registry.verify_files(ENTRY, manifest.entry(ENTRY), manifest.root)
        path = registry.shipped_dir() / means_path(view)
        if not path.exists():
            from ..errors import NotFoundError

            raise NotFoundError(f"no centring means for the {view!r} view ({path})")
        return cls(np.load(path))

    @classmethod
    def estimate(cls, vectors: np.ndarray, languages: Sequence[str]) -> Centring:
        """Means of ``vectors`` per language (every one of the 35 must be present)."""
        langs = np.asarray(languages)
        missing = [code for code in CODES if not (langs == code).any()]
        if missing:
            raise ValueError(f"no texts in {', '.join(missing)}")
        return cls(np.stack([vectors[langs == code].mean(axis=0) for code in CODES]))

    def offsets(self, languages: Sequence[str | None]) -> np.ndarray:
        return np.stack(
            [
                self.means[self.index[lang]] if lang in self.index else self.fallback
                for lang in languages
            ]
        )

    def apply(self, vectors: np.ndarray, languages: Sequence[str | None]) -> np.ndarray:
        """``vectors`` minus their language's mean, renormalised to unit length."""
        if len(vectors) == 0:
            return vectors.astype(np.float32)
        out = vectors.astype(np.float32) - self.offsets(languages)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.maximum(norms, 1e-6), dtype=np.float32)
