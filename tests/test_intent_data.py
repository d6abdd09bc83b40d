"""Intent examples for training and evaluation: every language and intent, kept apart."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import pytest

from polydesk.languages import CODES

from .langcheck import detect

MODELS = Path(__file__).resolve().parents[1] / "models"
INTENTS = {i["name"] for i in json.loads((MODELS / "taxonomy.json").read_text())["intents"]}
DEMO = Path(__file__).resolve().parents[1] / "polydesk" / "demo" / "texts"
MINIMUM = {"train": 15, "eval": 8}
ENGLISH_TRAIN_MINIMUM = 40


def norm(text: str) -> str:
    return " ".join(text.lower().split())


Rows = Sequence[dict[str, str]]


def check_rows(where: str, data: Rows) -> None:
    """Fields, intent and length of every row, and no duplicate texts."""
    for n, row in enumerate(data, 1):
        assert set(row) == {"text", "intent"}, f"{where} line {n}: fields {sorted(row)}"
        assert row["intent"] in INTENTS, f"{where} line {n}: intent {row['intent']!r}"
        assert 2 <= len(row["text"]) <= 600, f"{where} line {n}: length"
    texts = [norm(r["text"]) for r in data]
    dupes = [t for t, c in Counter(texts).items() if c > 1]
    assert not dupes, f"{where}: duplicates {dupes[:5]}"


def demo_texts(code: str) -> set[str]:
    demo = json.loads((DEMO / f"{code}.json").read_text(encoding="utf-8"))
    return {norm(t["body"]) for t in demo["tickets"]}


def wrong_language(data: Rows, code: str) -> list[tuple[str, str]]:
    """(detected language, text) of the rows not detected as ``code``."""
    found = [(detect(r["text"])[0], r["text"]) for r in data]
    return [(lang, text) for lang, text in found if lang != code]


@cache
def rows(split: str, code: str) -> tuple[dict[str, str], ...]:
    path = MODELS / "intents" / split / f"{code}.jsonl"
    assert path.exists(), f"{path.relative_to(MODELS.parent)} is missing: every language needs it"
    return tuple(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("split", ["train", "eval"])
@pytest.mark.parametrize("code", CODES)
def test_every_intent_is_covered(split: str, code: str) -> None:
    data = rows(split, code)
    check_rows(f"{split}/{code}", data)
    counts = Counter(r["intent"] for r in data)
    need = ENGLISH_TRAIN_MINIMUM if (split, code) == ("train", "en") else MINIMUM[split]
    short = {i: counts.get(i, 0) for i in INTENTS if counts.get(i, 0) < need}
    assert not short, f"{split}/{code}: fewer than {need} examples: {short}"


@pytest.mark.parametrize("code", CODES)
def test_evaluation_is_kept_apart(code: str) -> None:
    train = {norm(r["text"]) for r in rows("train", code)}
    evaluation = {norm(r["text"]) for r in rows("eval", code)}
    demo = demo_texts(code)
    assert not train & evaluation, (
        f"{code}: in both train and eval: {sorted(train & evaluation)[:5]}"
    )
    assert not train & demo, f"{code}: demo tickets in train: {sorted(train & demo)[:5]}"
    assert not evaluation & demo, f"{code}: demo tickets in eval: {sorted(evaluation & demo)[:5]}"


@pytest.mark.parametrize("split", ["train", "eval"])
@pytest.mark.parametrize("code", CODES)
def test_examples_are_in_their_language(split: str, code: str) -> None:
    wrong = wrong_language(rows(split, code), code)
    assert not wrong, f"{split}/{code}: {len(wrong)} detected as another language: {wrong[:10]}"


BANKING77_REWRITES = MODELS / "intents" / "banking77"
BANKING77_TEST = MODELS.parents[1] / "shared" / "datasets" / "banking77" / "test.csv"


def banking77_rewrites() -> dict[str, list[dict[str, object]]]:
    return {
        path.stem: [json.loads(line) for line in path.read_text("utf-8").splitlines()]
        for path in sorted(BANKING77_REWRITES.glob("*.jsonl"))
    }


def test_banking77_rewrites_cover_five_scripts() -> None:
    from polydesk.languages import BY_CODE

    scripts = {BY_CODE[code].script for code in banking77_rewrites()}
    assert len(scripts) >= 5, f"banking77 rewrites cover only the scripts {sorted(scripts)}"


@pytest.mark.parametrize("code", sorted(banking77_rewrites()))
def test_banking77_rewrites_match_the_test_split(code: str) -> None:
    data = banking77_rewrites()[code]
    assert len(data) >= 300, f"banking77/{code}: {len(data)} rows"
    numbers = [row["n"] for row in data]
    assert len(set(numbers)) == len(numbers), f"banking77/{code}: a query rewritten twice"
    wrong = [(detect(str(r["text"]))[0], r["text"]) for r in data]
    wrong = [(lang, text) for lang, text in wrong if lang != code]
    assert not wrong, f"banking77/{code}: {len(wrong)} detected as another language: {wrong[:5]}"
    if not BANKING77_TEST.exists():
        pytest.skip("../shared/datasets/banking77 is not beside the repository")
    import csv

    with BANKING77_TEST.open(encoding="utf-8") as handle:
        source = list(csv.DictReader(handle))
    for row in data:
        n = row["n"]
        assert isinstance(n, int) and 0 <= n < len(source), f"banking77/{code}: row n={n}"
        assert row["intent"] == source[n]["category"], f"banking77/{code} n={n}: intent"


def test_the_adapter_was_trained_on_this_data_without_the_calibration_rows() -> None:
    """models/adapters/intent.npz records what it was trained on; it must be this data.

    The shipped head chooses its L2, neighbour blend and out-of-scope thresholds on the rows
    ``heads.split_holdout`` holds out: the adapter must not have trained on them, or their
    confidence is inflated and the thresholds turn real requests into out_of_scope.
    """
    import sys

    import numpy as np

    from polydesk.triage import heads

    path = MODELS / "adapters" / "intent.npz"
    if not path.exists():
        pytest.skip("no intent adapter")
    scripts = str(MODELS.parent / "scripts")
    sys.path.insert(0, scripts)
    try:
        import train_adapter
    finally:
        sys.path.remove(scripts)
    with np.load(path) as npz:
        meta = json.loads(str(npz["meta"]))
    texts, labels, _, digest = train_adapter.read_rows()
    assert meta["training_sha256"] == digest, (
        "models/intents/train changed since the adapter was trained: "
        "run scripts/train_adapter.py, then scripts/build_encoder.py and scripts/build_heads.py"
    )
    held = heads.split_holdout(labels, heads.HOLDOUT_FRACTION, heads.HOLDOUT_SEED)
    assert meta["held_out_for_calibration"] == int(held.sum()) > 0
    assert meta["training_rows"] == len(texts) - int(held.sum())
    assert meta["held_out_sha256"] == train_adapter.held_out_digest(texts, held)


PENDING = MODELS / "intents" / "pending"


@pytest.mark.parametrize("path", sorted(PENDING.glob("*.jsonl")), ids=lambda p: p.stem)
def test_pending_rows_are_clean_and_kept_apart(path: Path) -> None:
    """Rows written for a language but not trained on yet (models/intents/pending): the same
    checks as training rows, so they can move into models/intents/train as they are."""
    code = path.stem
    assert code in CODES, f"{path.name}: not one of the 35 language codes"
    data = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    check_rows(f"pending/{code}", data)
    texts = {norm(r["text"]) for r in data}
    elsewhere = {
        "train": {norm(r["text"]) for r in rows("train", code)},
        "eval": {norm(r["text"]) for r in rows("eval", code)},
        "demo": demo_texts(code),
    }
    for name, other in elsewhere.items():
        assert not texts & other, f"pending/{code}: also in {name}: {sorted(texts & other)[:5]}"
    wrong = wrong_language(data, code)
    assert not wrong, f"pending/{code}: {len(wrong)} detected as another language: {wrong[:10]}"
