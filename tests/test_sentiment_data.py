"""Sentiment / urgency training examples: every language, every tone, rightly detected."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from polydesk.languages import CODES

from .langcheck import detect

DATA = Path(__file__).resolve().parents[1] / "models" / "sentiment"
TONES = {"neutral", "negative", "angry", "urgent", "distressed"}
MINIMUM = 12


def rows(code: str) -> list[dict[str, str]]:
    path = DATA / f"{code}.jsonl"
    assert path.exists(), f"{path.name} is missing: every language needs it"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("code", CODES)
def test_every_tone_is_covered(code: str) -> None:
    data = rows(code)
    assert all(set(r) == {"text", "tone"} and r["tone"] in TONES for r in data), code
    counts = Counter(r["tone"] for r in data)
    assert all(counts[t] >= MINIMUM for t in TONES), f"{code}: {dict(counts)}"
    texts = [" ".join(r["text"].lower().split()) for r in data]
    assert len(set(texts)) == len(texts), f"{code}: duplicates"


@pytest.mark.parametrize("code", CODES)
def test_sentiment_examples_are_in_their_language(code: str) -> None:
    wrong = [(detect(r["text"])[0], r["text"]) for r in rows(code)]
    wrong = [(lang, text) for lang, text in wrong if lang != code]
    assert not wrong, f"{code}: detected as another language: {wrong[:10]}"
