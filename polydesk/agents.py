"""The people who take escalations: their roles, language skills and refund authority."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import money, timeutil
from .errors import ConflictError, InvalidValueError, NotFoundError
from .languages import normalise_code
from .store import Store

Row = dict[str, Any]
ROLES = ("agent", "senior", "specialist", "admin")
_EDITABLE = ("role", "languages", "refund_limit_minor", "refund_currency", "ui_language", "active")


def _languages(codes: Iterable[str]) -> list[str]:
    out: list[str] = []
    for code in codes:
        try:
            base = normalise_code(code)
        except KeyError:
            raise InvalidValueError("languages", f"unknown language code {code!r}") from None
        if base not in out:
            out.append(base)
    return out


def _check(values: Row) -> Row:
    out = dict(values)
    if "role" in out and out["role"] not in ROLES:
        raise InvalidValueError("role", f"{out['role']!r} is not one of {', '.join(ROLES)}")
    if "languages" in out:
        out["languages"] = _languages(out["languages"])
    if "ui_language" in out:
        out["ui_language"] = _languages([out["ui_language"]])[0]
    if "refund_currency" in out:
        try:
            out["refund_currency"] = money.check_currency(out["refund_currency"])
        except ValueError as exc:
            raise InvalidValueError("refund_currency", str(exc)) from None
    if out.get("refund_limit_minor", 0) < 0:
        raise InvalidValueError("refund_limit", "must not be negative")
    return out


def parse_limit(amount: str, currency: str) -> int:
    """``"250.00", "EUR" -> 25000``, with the field named in the error."""
    try:
        return money.to_minor(amount, money.check_currency(currency))
    except ValueError as exc:
        raise InvalidValueError("refund_limit", str(exc)) from None


def add_agent(store: Store, values: Row, *, actor: str = "admin") -> Row:
    """Add one agent (name, role, languages, refund limit, UI language) and log it."""
    clean = _check(values)
    name = str(clean.get("name", "")).strip()
    if not name:
        raise InvalidValueError("name", "is empty")
    with store.transaction():
        if store.agent(name) is not None:
            raise ConflictError(f"an agent named {name!r} already exists")
        agent_id = store.insert_agent({**clean, "name": name, "created_at": timeutil.now_iso()})
        store.append_event(actor, "agent_added", "agent", agent_id, _public(clean))
        return store.agent_by_id(agent_id) or {}


def set_agent(store: Store, name: str, changes: Row, *, actor: str = "admin") -> Row:
    """Change an agent's settings; unknown keys are refused, unchanged values are not logged."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise InvalidValueError(sorted(unknown)[0], "cannot be changed")
    clean = _check(changes)
    with store.transaction():
        agent = store.agent(name)
        if agent is None:
            raise NotFoundError(f"no agent named {name!r}")
        diff = {k: v for k, v in clean.items() if agent.get(k) != v}
        if diff:
            store.update_agent(int(agent["id"]), diff)
            store.append_event(actor, "agent_updated", "agent", int(agent["id"]), _public(diff))
        return store.agent_by_id(int(agent["id"])) or {}


def ensure_agents(store: Store, team: Iterable[Row], *, actor: str = "admin") -> int:
    """Add the agents that do not exist yet (idempotent). Returns how many were added."""
    added = 0
    for values in team:
        if store.agent(values["name"]) is None:
            add_agent(store, values, actor=actor)
            added += 1
    return added


def _public(values: Row) -> Row:
    return {k: v for k, v in values.items() if k != "name"}
