"""The ticket state machine.

    new -> triaged -> auto_resolved | escalated -> claimed -> pending_customer -> resolved -> closed

Every action is one transaction that changes the ticket and appends exactly one event. An action
that is not allowed from the ticket's state raises :class:`IllegalTransitionError` and writes
nothing. A customer message on a resolved (or auto-resolved) ticket reopens it as a repeat
contact and puts it in front of a person; on a closed ticket it opens a linked follow-up ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import timeutil
from .errors import ConflictError, IllegalTransitionError, InvalidValueError, NotFoundError
from .store import Store
from .store.migrations import STATES

Row = dict[str, Any]

# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "triage": (frozenset({"new"}), "triaged"),
    "auto_resolve": (frozenset({"triaged"}), "auto_resolved"),
    "escalate": (frozenset({"triaged", "claimed", "pending_customer"}), "escalated"),
    "claim": (frozenset({"escalated", "claimed"}), "claimed"),
    "release": (frozenset({"claimed"}), "escalated"),
    "await_customer": (frozenset({"claimed"}), "pending_customer"),
    "resolve": (frozenset({"claimed", "pending_customer"}), "resolved"),
    "close": (frozenset({"resolved", "auto_resolved"}), "closed"),
    "reopen": (frozenset({"resolved", "auto_resolved", "pending_customer"}), "escalated"),
}
ACTIONS = tuple(TRANSITIONS)
OPEN_STATES = frozenset({"new", "triaged", "escalated", "claimed", "pending_customer"})
DEFAULT_LEASE_MINUTES = 15
ROUTES = ("auto", "agent", "specialist")
PRIORITIES = ("low", "normal", "high", "urgent")


def next_state(state: str, action: str, ticket_id: int = 0) -> str:
    """The state ``action`` leads to from ``state``, or :class:`IllegalTransitionError`."""
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    sources, target = TRANSITIONS[action]
    if state not in sources:
        raise IllegalTransitionError(ticket_id, state, action)
    return target


@dataclass(frozen=True)
class Outcome:
    """What an action did: the ticket it touched, its state now, and the event written."""

    ticket_id: int
    status: str
    event_id: int


def _load(store: Store, ticket_id: int) -> Row:
    ticket = store.ticket(ticket_id)
    if ticket is None:
        raise NotFoundError(f"no ticket {ticket_id}")
    return ticket


def _agent(store: Store, name: str) -> Row:
    agent = store.agent(name)
    if agent is None:
        raise NotFoundError(f"no agent named {name!r}")
    if not agent["active"]:
        raise ConflictError(f"agent {name!r} is not active")
    return agent


def _lease_live(ticket: Row, at: datetime) -> bool:
    expires = ticket.get("lease_expires_at")
    return expires is not None and timeutil.parse(expires) > at


def _apply(
    store: Store,
    ticket_id: int,
    action: str,
    actor: str,
    change: Callable[[Row, datetime], Row],
    data: Row | None = None,
) -> Outcome:
    """Run one action as one transaction: check, change, append one event."""
    with store.transaction():
        ticket = _load(store, ticket_id)
        target = next_state(ticket["status"], action, ticket_id)
        at = timeutil.now()
        values = change(ticket, at)
        values.update(status=target, updated_at=timeutil.iso(at))
        store.update_ticket(ticket_id, values)
        event = store.append_event(
            actor,
            action,
            "ticket",
            ticket_id,
            {"from": ticket["status"], "to": target, **(data or {})},
        )
    return Outcome(ticket_id, target, event)


def triage(
    store: Store,
    ticket_id: int,
    *,
    language: str | None,
    intent: str,
    confidence: float,
    sentiment: str | None,
    route: str,
    reason: str,
    priority: str = "normal",
    actor: str = "triage",
) -> Outcome:
    if route not in ROUTES:
        raise InvalidValueError("route", f"must be one of {', '.join(ROUTES)}")
    if priority not in PRIORITIES:
        raise InvalidValueError("priority", f"must be one of {', '.join(PRIORITIES)}")
    values = {
        "language": language,
        "intent": intent,
        "intent_confidence": confidence,
        "sentiment": sentiment,
        "route": route,
        "route_reason": reason,
        "priority": priority,
    }

    def change(ticket: Row, at: datetime) -> Row:
        return {**values, "language": language or ticket["language"]}

    data = {"intent": intent, "confidence": round(confidence, 4), "route": route, "reason": reason}
    return _apply(store, ticket_id, "triage", actor, change, data)


def auto_resolve(store: Store, ticket_id: int, reply: str, *, actor: str = "auto") -> Outcome:
    def change(ticket: Row, at: datetime) -> Row:
        _add_message(store, ticket, "out", actor, reply, ticket["language"], at)
        return {"resolved_at": timeutil.iso(at)}

    return _apply(store, ticket_id, "auto_resolve", actor, change)


def escalate(
    store: Store, ticket_id: int, reason: str, *, route: str = "agent", actor: str = "system"
) -> Outcome:
    if route not in ("agent", "specialist"):
        raise InvalidValueError("route", "an escalation goes to 'agent' or 'specialist'")

    def change(ticket: Row, at: datetime) -> Row:
        return {
            "route": route,
            "route_reason": reason,
            "assignee_id": None,
            "lease_expires_at": None,
        }

    return _apply(store, ticket_id, "escalate", actor, change, {"route": route, "reason": reason})


def claim(
    store: Store, ticket_id: int, agent_name: str, *, lease_minutes: float = DEFAULT_LEASE_MINUTES
) -> Outcome:
    """Take a ticket from the queue for ``lease_minutes``; a lapsed lease may be taken over."""

    def change(ticket: Row, at: datetime) -> Row:
        agent = _agent(store, agent_name)
        held_by_other = ticket["assignee_id"] not in (None, agent["id"])
        if ticket["status"] == "claimed" and held_by_other and _lease_live(ticket, at):
            raise ConflictError(
                f"ticket {ticket_id} is held by {ticket['assignee']} until "
                f"{ticket['lease_expires_at']}"
            )
        return {
            "assignee_id": agent["id"],
            "lease_expires_at": timeutil.later(at, minutes=lease_minutes),
        }

    return _apply(store, ticket_id, "claim", agent_name, change, {"lease_minutes": lease_minutes})


def _held_by(store: Store, ticket: Row, agent_name: str) -> None:
    if ticket["assignee"] != agent_name:
        raise ConflictError(
            f"ticket {ticket['id']} is held by {ticket['assignee'] or 'nobody'}, not {agent_name}"
        )


def release(store: Store, ticket_id: int, agent_name: str) -> Outcome:
    def change(ticket: Row, at: datetime) -> Row:
        _held_by(store, ticket, agent_name)
        return {"assignee_id": None, "lease_expires_at": None}

    return _apply(store, ticket_id, "release", agent_name, change)


def await_customer(store: Store, ticket_id: int, agent_name: str, reply: str) -> Outcome:
    """The agent sent ``reply`` and waits for the customer."""

    def change(ticket: Row, at: datetime) -> Row:
        _held_by(store, ticket, agent_name)
        _add_message(store, ticket, "out", agent_name, reply, ticket["language"], at)
        return {}

    return _apply(store, ticket_id, "await_customer", agent_name, change)


def resolve(store: Store, ticket_id: int, agent_name: str, reply: str | None = None) -> Outcome:
    def change(ticket: Row, at: datetime) -> Row:
        _held_by(store, ticket, agent_name)
        if reply:
            _add_message(store, ticket, "out", agent_name, reply, ticket["language"], at)
        return {"resolved_at": timeutil.iso(at), "lease_expires_at": None}

    return _apply(store, ticket_id, "resolve", agent_name, change)


def close(store: Store, ticket_id: int, *, actor: str = "system") -> Outcome:
    def change(ticket: Row, at: datetime) -> Row:
        return {"closed_at": timeutil.iso(at), "assignee_id": None, "lease_expires_at": None}

    return _apply(store, ticket_id, "close", actor, change)


def customer_message(
    store: Store,
    ticket_id: int,
    body: str,
    *,
    language: str | None = None,
    author: str = "customer",
) -> Outcome:
    """Record a message from the customer, reopening or following up the ticket as needed."""
    with store.transaction():
        ticket = _load(store, ticket_id)
        if ticket["status"] == "closed":
            follow_ups = store.follow_ups(ticket_id)
            live = [f for f in follow_ups if f["status"] != "closed"]
            if live:  # the customer is still on the follow-up already opened
                return customer_message(
                    store, live[-1]["id"], body, language=language, author=author
                )
            return _follow_up(store, ticket, body, language, author, len(follow_ups) + 1)
        if ticket["status"] in TRANSITIONS["reopen"][0]:
            return _reopen(store, ticket, body, language, author)
        at = timeutil.now()
        _add_message(store, ticket, "in", author, body, language or ticket["language"], at)
        store.update_ticket(ticket_id, {"updated_at": timeutil.iso(at)})
        event = store.append_event(author, "customer_message", "ticket", ticket_id, {})
        return Outcome(ticket_id, ticket["status"], event)


def _reopen(store: Store, ticket: Row, body: str, language: str | None, author: str) -> Outcome:
    repeat = ticket["status"] != "pending_customer"
    reason = "repeat contact after resolution" if repeat else "customer replied"

    def change(current: Row, at: datetime) -> Row:
        _add_message(store, current, "in", author, body, language or current["language"], at)
        values: Row = {"route_reason": reason, "assignee_id": None, "lease_expires_at": None}
        if repeat:
            values.update(
                contacts=current["contacts"] + 1,
                resolved_at=None,
                route="agent" if current["route"] == "auto" else current["route"],
            )
        return values

    return _apply(store, ticket["id"], "reopen", author, change, {"reason": reason})


def _follow_up(
    store: Store, ticket: Row, body: str, language: str | None, author: str, number: int
) -> Outcome:
    """A message on a closed ticket opens a new ticket linked to it (a repeat contact)."""
    at = timeutil.now()
    new_id = store.insert_ticket(
        {
            "external_id": f"{ticket['external_id']}/followup-{number}",
            "customer_id": ticket["customer_id"],
            "order_id": ticket["order_id"],
            "channel": ticket["channel"],
            "subject": ticket["subject"],
            "language": language or ticket["language"],
            "status": "new",
            "created_at": timeutil.iso(at),
            "updated_at": timeutil.iso(at),
            "repeat_of": ticket["id"],
            "contacts": ticket["contacts"] + 1,
        }
    )
    _add_message(
        store, {**ticket, "id": new_id}, "in", author, body, language or ticket["language"], at
    )
    event = store.append_event(author, "follow_up", "ticket", new_id, {"repeat_of": ticket["id"]})
    return Outcome(new_id, "new", event)


def add_note(store: Store, ticket_id: int, agent_name: str, body: str) -> Outcome:
    """An internal note: visible to agents only, no state change."""
    with store.transaction():
        ticket = _load(store, ticket_id)
        _agent(store, agent_name)
        _add_message(store, ticket, "internal", agent_name, body, None, timeutil.now())
        event = store.append_event(agent_name, "note", "ticket", ticket_id, {})
    return Outcome(ticket_id, ticket["status"], event)


def expire_leases(store: Store, *, at: datetime | None = None) -> list[Outcome]:
    """Return every claimed ticket whose lease has lapsed to the queue (one transaction each)."""
    moment = at or timeutil.now()

    def change(ticket: Row, now: datetime) -> Row:
        if _lease_live(ticket, moment):  # re-claimed since we looked
            raise ConflictError(f"ticket {ticket['id']} was claimed again")
        return {"assignee_id": None, "lease_expires_at": None, "route_reason": "lease expired"}

    outcomes = []
    for ticket_id in store.lapsed_leases(timeutil.iso(moment)):
        try:
            outcomes.append(
                _apply(store, ticket_id, "release", "system", change, {"reason": "lease expired"})
            )
        except ConflictError:
            continue
    return outcomes


def _add_message(
    store: Store,
    ticket: Row,
    direction: str,
    author: str,
    body: str,
    language: str | None,
    at: datetime,
) -> None:
    if not body.strip():
        raise InvalidValueError("body", "is empty")
    agent = store.agent(author) if direction != "in" else None
    store.insert_message(
        {
            "ticket_id": ticket["id"],
            "direction": direction,
            "author": author,
            "agent_id": agent["id"] if agent else None,
            "language": language,
            "body": body,
            "created_at": timeutil.iso(at),
        }
    )
