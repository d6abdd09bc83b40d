"""Per-language confidence thresholds: a weaker language sends more tickets to people.

The machine answers a ticket itself only when the intent is auto-resolvable and the head is
confident. One global threshold is wrong for a multilingual desk: at the same confidence the
head is right more often in English than in Lithuanian. So each language gets its own threshold,
set on labelled examples of that language (models/intents/eval for the shipped head, an
operator's own file for theirs):

    the lowest threshold (not below the policy's ``min_confidence``) at which wrong automatic
    answers stay at or under ``max_wrong`` of that language's tickets.

A language with no threshold that meets the bound gets 1.0: nothing is answered automatically
in it. Figures reported for shipped thresholds are cross-fitted (thresholds set on one half of
each language's rows, measured on the other half, and the other way round) so that they are
not measured on the rows that set them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .heads import OUT_OF_SCOPE, Prediction

NEVER = 1.0


@dataclass(frozen=True)
class Rows:
    """Labelled predictions of one language (or any group of rows)."""

    confidence: np.ndarray
    margin: np.ndarray
    eligible: np.ndarray  # predicted intent may be answered automatically
    correct: np.ndarray

    @classmethod
    def of(
        cls, predictions: Sequence[Prediction], gold: Sequence[str], auto_intents: set[str]
    ) -> Rows:
        return cls(
            np.array([p.confidence for p in predictions], dtype=np.float64),
            np.array([p.margin for p in predictions], dtype=np.float64),
            np.array([p.label in auto_intents and p.label != OUT_OF_SCOPE for p in predictions]),
            np.array([p.label == g for p, g in zip(predictions, gold, strict=True)]),
        )

    def take(self, mask: np.ndarray) -> Rows:
        return Rows(
            self.confidence[mask], self.margin[mask], self.eligible[mask], self.correct[mask]
        )

    def answered(self, threshold: float, min_margin: float) -> np.ndarray:
        return self.eligible & (self.confidence >= threshold) & (self.margin >= min_margin)

    def outcome(self, threshold: float, min_margin: float) -> dict[str, float]:
        """Accuracy, share answered automatically, share answered wrongly (of all rows)."""
        n = len(self.correct)
        auto = self.answered(threshold, min_margin)
        return {
            "rows": n,
            "accuracy": round(float(self.correct.mean()), 4) if n else 0.0,
            "auto_rate": round(float(auto.mean()), 4) if n else 0.0,
            "wrong_auto_rate": round(float((auto & ~self.correct).mean()), 4) if n else 0.0,
        }


def threshold_for(rows: Rows, *, max_wrong: float, floor: float, min_margin: float) -> float:
    """The lowest threshold >= ``floor`` whose wrong automatic answers are <= ``max_wrong``."""
    n = len(rows.correct)
    if n == 0:
        return NEVER
    candidates = np.unique(np.concatenate([[floor], rows.confidence[rows.confidence >= floor]]))
    for threshold in candidates:  # ascending: the first that holds answers the most
        wrong = rows.answered(float(threshold), min_margin) & ~rows.correct
        if wrong.sum() <= max_wrong * n:
            return round(float(threshold), 4)
    return NEVER


def language_thresholds(
    rows_by_language: dict[str, Rows], *, max_wrong: float, floor: float, min_margin: float
) -> dict[str, float]:
    return {
        lang: threshold_for(rows, max_wrong=max_wrong, floor=floor, min_margin=min_margin)
        for lang, rows in sorted(rows_by_language.items())
    }


def halves(labels: Sequence[str], seed: int = 0) -> np.ndarray:
    """A boolean mask splitting rows in two halves, stratified by label."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    mask = np.zeros(len(labels), dtype=bool)
    for label in sorted(by_label):
        rows = np.array(by_label[label])
        rng.shuffle(rows)
        mask[rows[: len(rows) // 2]] = True
    return mask


def cross_fitted(
    rows: Rows, labels: Sequence[str], *, max_wrong: float, floor: float, min_margin: float
) -> dict[str, float]:
    """Outcome with thresholds set on the other half of the rows (both ways, pooled)."""
    first = halves(labels)
    auto = np.zeros(len(labels), dtype=bool)
    for fit, measure in ((first, ~first), (~first, first)):
        t = threshold_for(rows.take(fit), max_wrong=max_wrong, floor=floor, min_margin=min_margin)
        auto[measure] = rows.take(measure).answered(t, min_margin)
    n = len(labels)
    return {
        "rows": n,
        "accuracy": round(float(rows.correct.mean()), 4) if n else 0.0,
        "auto_rate": round(float(auto.mean()), 4) if n else 0.0,
        "wrong_auto_rate": round(float((auto & ~rows.correct).mean()), 4) if n else 0.0,
    }


def calibrate(
    predictions: Sequence[Prediction],
    gold: Sequence[str],
    languages: Sequence[str],
    auto_intents: set[str],
    *,
    max_wrong: float,
    floor: float,
    min_margin: float,
) -> dict[str, Any]:
    """Thresholds per language and what they do: ``{"thresholds", "per_language", ...}``."""
    index: dict[str, list[int]] = defaultdict(list)
    for i, lang in enumerate(languages):
        index[lang].append(i)
    everything = Rows.of(predictions, gold, auto_intents)
    per_language: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    for lang in sorted(index):
        ids = np.array(index[lang])
        rows = everything.take(ids)
        labels = [gold[i] for i in ids]
        thresholds[lang] = threshold_for(
            rows, max_wrong=max_wrong, floor=floor, min_margin=min_margin
        )
        per_language[lang] = {
            "threshold": thresholds[lang],
            "at_floor": rows.outcome(floor, min_margin),
            "cross_fitted": cross_fitted(
                rows, labels, max_wrong=max_wrong, floor=floor, min_margin=min_margin
            ),
        }
    return {
        "max_wrong": max_wrong,
        "floor": floor,
        "min_margin": min_margin,
        "rows": len(gold),
        "thresholds": thresholds,
        "per_language": per_language,
    }
