"""The demo shop: big enough, in every language, deterministic, and loaded by the real import."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from polydesk import demo
from polydesk.languages import CODES

from .conftest import Invoker

ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)


def test_demo_size_and_spread() -> None:
    shop = demo.generate(anchor=ANCHOR)
    customers = {t["customer"]["id"]: t["customer"] for t in shop.tickets}
    assert len(shop.tickets) >= 2000
    by_lang = Counter(t["language"] for t in shop.tickets)
    assert set(by_lang) == set(CODES) and min(by_lang.values()) >= 50
    assert len({c["language"] for c in customers.values()}) == 35
    assert all(t["customer"]["language"] == t["language"] for t in shop.tickets)
    every = demo.generate(anchor=ANCHOR, customers_per_language=16)
    assert len({t["customer"]["id"] for t in every.tickets}) >= 500
    intents = Counter(label["intent"] for label in shop.labels.values())
    assert len(intents) == 26


def test_demo_is_deterministic() -> None:
    first = demo.generate(seed=7, anchor=ANCHOR)
    again = demo.generate(seed=7, anchor=ANCHOR)
    other = demo.generate(seed=8, anchor=ANCHOR)
    assert json.dumps(first.tickets) == json.dumps(again.tickets)
    assert json.dumps(first.tickets) != json.dumps(other.tickets)


def test_demo_texts_are_filled_in() -> None:
    shop = demo.generate(anchor=ANCHOR)
    for ticket in shop.tickets:
        for message in ticket["messages"]:
            assert "{" not in message["body"] and "}" not in message["body"], message["body"]
        order = ticket["order"]
        assert sum(i["amount_minor"] for i in order["installments"]) == order["amount_minor"]
        assert ticket["created_at"] >= order["placed_at"]
        assert ticket["created_at"] <= "2026-11-20T00:00:00Z"


def test_init_demo_loads_and_is_idempotent(invoke: Invoker) -> None:
    first = invoke("init", "--demo", "--anchor", "2026-11-20")
    assert "in 35 languages" in first.stderr
    tickets = json.loads(invoke("tickets", "list", "--json").stdout)
    assert len(tickets) >= 2000
    assert {t["language"] for t in tickets} == set(CODES)
    assert {t["status"] for t in tickets} == {"new"}
    sv = json.loads(invoke("tickets", "list", "--lang", "sv", "--json").stdout)
    assert sv and all(t["language"] == "sv" for t in sv)
    again = invoke("init", "--demo", "--anchor", "2026-11-20")
    assert "0 tickets added" in again.stderr
    assert len(json.loads(invoke("tickets", "list", "--json").stdout)) == len(tickets)
    assert json.loads(invoke("events", "verify", "--json").stdout)["ok"]
