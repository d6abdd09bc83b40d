"""Training and evaluating intent heads from labelled examples (JSONL or CSV).

Examples are ``{"text": ..., "intent": ...}`` lines (``"language"`` optional), or CSV with a
``text`` column and an ``intent`` or ``category`` column (banking77's layout). A bad row is
named (line, field, reason) and the file refused: a head trained on half a file is worse than
no head.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidValueError
from ..languages import normalise_code
from . import heads

Embed = Callable[[list[str]], np.ndarray]


def read_examples(path: Path) -> heads.TrainingSet:
    """Read labelled examples; raise :class:`InvalidValueError` naming the first bad row."""
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidValueError(str(path), f"invalid UTF-8 at byte {exc.start}") from None
    rows = _csv_rows(raw, path) if path.suffix.lower() == ".csv" else _jsonl_rows(raw, path)
    texts, labels, languages = [], [], []
    for line, row in rows:
        text, label = row.get("text"), row.get("intent", row.get("category"))
        if not isinstance(text, str) or not text.strip():
            raise InvalidValueError(f"{path}:{line}: text", "missing or empty")
        if not isinstance(label, str) or not label.strip():
            raise InvalidValueError(f"{path}:{line}: intent", "missing or empty")
        texts.append(text.strip())
        labels.append(label.strip())
        languages.append(_language(row.get("language", row.get("lang")), path, line))
    if not texts:
        raise InvalidValueError(str(path), "no examples")
    return heads.TrainingSet(texts, labels, languages)


def _language(value: Any, path: Path, line: int) -> str | None:
    if value in (None, ""):
        return None
    try:
        return normalise_code(str(value))
    except KeyError:
        raise InvalidValueError(f"{path}:{line}: language", f"unknown code {value!r}") from None


def _jsonl_rows(raw: str, path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidValueError(f"{path}:{number}", f"malformed JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise InvalidValueError(f"{path}:{number}", "expected a JSON object")
        rows.append((number, obj))
    return rows


def _csv_rows(raw: str, path: Path) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(raw))
    header = reader.fieldnames or []
    if "text" not in header or not {"intent", "category"} & set(header):
        raise InvalidValueError(f"{path}: header", "needs a text column and intent or category")
    return [(n, row) for n, row in enumerate(reader, 2)]


@dataclass
class Evaluation:
    """Accuracy, macro-F1, per-intent and per-language tables, the main confusions."""

    rows: int
    accuracy: float
    macro_f1: float
    per_intent: dict[str, dict[str, float]]
    per_language: dict[str, dict[str, float]]
    confusions: list[dict[str, Any]]
    oos: dict[str, float] | None = None
    # per language: threshold in force, share answered automatically, share answered wrongly
    automation: dict[str, dict[str, float]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_intent": self.per_intent,
            "per_language": self.per_language,
            "confusions": self.confusions,
            "out_of_scope": self.oos,
            "automation": self.automation,
        }


def evaluate(
    gold: list[str], predicted: list[str], languages: list[str | None], *, top: int = 10
) -> Evaluation:
    n = len(gold)
    correct = [g == p for g, p in zip(gold, predicted, strict=True)]
    per_intent = _per_intent(gold, predicted)
    by_language: dict[str, list[bool]] = defaultdict(list)
    for lang, ok in zip(languages, correct, strict=True):
        by_language[lang or "?"].append(ok)
    per_language = {
        lang: {"rows": len(oks), "accuracy": round(sum(oks) / len(oks), 4)}
        for lang, oks in sorted(by_language.items())
    }
    pairs = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    confusions = [{"gold": g, "predicted": p, "count": c} for (g, p), c in pairs.most_common(top)]
    f1s = [v["f1"] for v in per_intent.values()]
    return Evaluation(
        n,
        round(sum(correct) / n, 4) if n else 0.0,
        round(float(np.mean(f1s)), 4) if f1s else 0.0,
        per_intent,
        per_language,
        confusions,
    )


def _per_intent(gold: list[str], predicted: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for label in sorted(set(gold)):
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {
            "rows": tp + fn,
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
        }
    return out
