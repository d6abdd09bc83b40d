"""The hand-written demo ticket texts: all languages present, well-formed, rightly detected."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from polydesk.languages import CODES

from .langcheck import detect

TEXTS = Path(__file__).resolve().parents[1] / "polydesk" / "demo" / "texts"
TAXONOMY = Path(__file__).resolve().parents[1] / "models" / "taxonomy.json"
INTENTS = {i["name"] for i in json.loads(TAXONOMY.read_text())["intents"]}
TONES = {"neutral", "negative", "angry", "urgent", "distressed"}
PLACEHOLDERS = {"order", "amount", "merchant", "name"}
SAMPLE = {"order": "88231", "amount": "49.90", "merchant": "Nordstil", "name": "Alex"}
FIELD = re.compile(r"\{([^{}]*)\}")


def load(code: str) -> dict:
    return json.loads((TEXTS / f"{code}.json").read_text(encoding="utf-8"))


def fill(text: str) -> str:
    return FIELD.sub(lambda m: SAMPLE[m.group(1)], text)


def check_placeholders(text: str, where: str) -> None:
    names = FIELD.findall(text)
    unknown = set(names) - PLACEHOLDERS
    assert not unknown, f"{where}: unknown placeholder(s) {unknown}"
    stripped = FIELD.sub("", text)
    assert "{" not in stripped and "}" not in stripped, f"{where}: stray brace"


@pytest.mark.parametrize("code", CODES)
def test_language_file_is_complete(code: str) -> None:
    data = load(code)
    assert data["lang"] == code
    assert len(data["given_names"]) >= 20 and len(data["family_names"]) >= 20
    for given in data["given_names"]:
        assert len(given) == 3 and all(given), f"{code}: given name {given}"
        assert given[2] in ("f", "m", "x"), f"{code}: {given} gender"
    assert {g[2] for g in data["given_names"]} >= {"f", "m"}, f"{code}: both genders"
    for family in data["family_names"]:
        assert len(family) in (2, 4) and all(family), f"{code}: family name {family}"
    for name in data["given_names"] + data["family_names"]:
        assert name[1].isascii(), f"{code}: romanised name {name[1]!r} is not ASCII"
        assert len(name) < 4 or name[3].isascii(), f"{code}: romanised name {name[3]!r}"
    tickets = data["tickets"]
    assert len(tickets) >= 60, f"{code}: {len(tickets)} tickets"
    counts = Counter(t["intent"] for t in tickets)
    assert set(counts) == INTENTS, f"{code}: intents differ: {set(counts) ^ INTENTS}"
    assert min(counts.values()) >= 2, f"{code}: {counts.most_common()[-1]}"
    bodies = [t["body"] for t in tickets]
    assert len(set(bodies)) == len(bodies), f"{code}: duplicate bodies"
    assert len(data["followups"]) >= 6


@pytest.mark.parametrize("code", CODES)
def test_texts_are_well_formed(code: str) -> None:
    data = load(code)
    for n, t in enumerate(data["tickets"]):
        where = f"{code} ticket {n} ({t.get('intent')})"
        assert set(t) == {"intent", "tone", "subject", "body"}, where
        assert t["tone"] in TONES, where
        assert 1 <= len(t["subject"]) <= 120, where
        assert 8 <= len(t["body"]) <= 2000, where
        check_placeholders(t["subject"], where + " subject")
        check_placeholders(t["body"], where + " body")
    for n, f in enumerate(data["followups"]):
        assert f["tone"] in TONES
        check_placeholders(f["body"], f"{code} followup {n}")


@pytest.mark.parametrize("code", CODES)
def test_texts_are_in_their_language(code: str) -> None:
    data = load(code)
    texts = [t["body"] for t in data["tickets"]] + [f["body"] for f in data["followups"]]
    wrong = [(detect(fill(t))[0], t) for t in texts if detect(fill(t))[0] != code]
    assert not wrong, f"{code}: detected as another language: {wrong}"
