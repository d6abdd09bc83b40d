"""The ticket state machine: legal paths, typed refusals, and random action sequences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polydesk import agents, lifecycle, timeutil
from polydesk.errors import ConflictError, IllegalTransitionError, NotFoundError
from polydesk.lifecycle import Outcome
from polydesk.store import Store
from polydesk.store.migrations import STATES


def new_ticket(store: Store, external_id: str = "T-1") -> int:
    now = timeutil.now_iso()
    with store.transaction():
        ticket_id = store.insert_ticket(
            {"external_id": external_id, "language": "sv", "created_at": now, "updated_at": now}
        )
        store.insert_message(
            {"ticket_id": ticket_id, "direction": "in", "body": "Hej!", "created_at": now}
        )
        store.append_event("test", "import", "ticket", ticket_id, {})
    return ticket_id


def with_agents(store: Store) -> None:
    for name in ("ana", "bo"):
        agents.add_agent(store, {"name": name, "languages": ["sv", "en"]})


def do_triage(store: Store, ticket_id: int, route: str = "agent") -> Outcome:
    return lifecycle.triage(
        store,
        ticket_id,
        language="sv",
        intent="order_status",
        confidence=0.9,
        sentiment="neutral",
        route=route,
        reason="test",
    )


def closed_ticket(store: Store) -> int:
    """A ticket the machine answered and closed."""
    tid = new_ticket(store)
    do_triage(store, tid, route="auto")
    lifecycle.auto_resolve(store, tid, "Klart.")
    lifecycle.close(store, tid)
    return tid


def test_happy_path_to_closed(store: Store) -> None:
    with_agents(store)
    tid = new_ticket(store)
    assert do_triage(store, tid).status == "triaged"
    assert lifecycle.escalate(store, tid, "needs a person").status == "escalated"
    assert lifecycle.claim(store, tid, "ana").status == "claimed"
    assert lifecycle.await_customer(store, tid, "ana", "Hej! Kan du skicka kvittot?").status == (
        "pending_customer"
    )
    assert lifecycle.customer_message(store, tid, "Här är det.").status == "escalated"
    lifecycle.claim(store, tid, "ana")
    assert lifecycle.resolve(store, tid, "ana", "Klart!").status == "resolved"
    assert lifecycle.close(store, tid).status == "closed"
    kinds = [e["kind"] for e in store.list_events(entity="ticket", entity_id=tid)]
    assert kinds == [
        "import",
        "triage",
        "escalate",
        "claim",
        "await_customer",
        "reopen",
        "claim",
        "resolve",
        "close",
    ]
    assert [m["direction"] for m in store.messages(tid)] == ["in", "out", "in", "out"]
    assert store.verify_events().ok


def test_illegal_transition_is_typed_and_writes_nothing(store: Store) -> None:
    tid = new_ticket(store)
    before = len(store.list_events())
    with pytest.raises(IllegalTransitionError) as err:
        lifecycle.close(store, tid)
    assert (err.value.ticket_id, err.value.state, err.value.action) == (tid, "new", "close")
    assert f"ticket {tid} is new: cannot close" in str(err.value)
    assert len(store.list_events()) == before
    assert store.ticket_status(tid) == "new"


def test_customer_message_on_resolved_reopens_as_repeat_contact(store: Store) -> None:
    tid = new_ticket(store)
    do_triage(store, tid, route="auto")
    lifecycle.auto_resolve(store, tid, "Ditt paket kommer i morgon.")
    outcome = lifecycle.customer_message(store, tid, "Det kom inte!")
    ticket = store.ticket(tid)
    assert outcome.status == "escalated" and ticket is not None
    assert ticket["contacts"] == 2
    assert ticket["route"] == "agent"  # a failed machine answer goes to a person
    assert ticket["route_reason"] == "repeat contact after resolution"


def test_customer_message_on_closed_opens_linked_follow_up(store: Store) -> None:
    tid = closed_ticket(store)
    outcome = lifecycle.customer_message(store, tid, "Samma problem igen.")
    follow = store.ticket(outcome.ticket_id)
    assert outcome.ticket_id != tid and follow is not None
    assert (follow["status"], follow["repeat_of"], follow["contacts"]) == ("new", tid, 2)
    assert store.ticket_status(tid) == "closed"


def test_claim_is_a_lease(store: Store) -> None:
    with_agents(store)
    tid = new_ticket(store)
    do_triage(store, tid)
    lifecycle.escalate(store, tid, "x")
    lifecycle.claim(store, tid, "ana", lease_minutes=10)
    with pytest.raises(ConflictError, match="held by ana"):
        lifecycle.claim(store, tid, "bo")
    with pytest.raises(ConflictError, match="held by ana"):
        lifecycle.resolve(store, tid, "bo")
    later = timeutil.now() + timedelta(minutes=11)
    assert [o.ticket_id for o in lifecycle.expire_leases(store, at=later)] == [tid]
    assert store.ticket_status(tid) == "escalated"
    assert lifecycle.claim(store, tid, "bo").status == "claimed"


def test_unknown_ticket_and_agent(store: Store) -> None:
    with pytest.raises(NotFoundError):
        lifecycle.close(store, 404)
    tid = new_ticket(store)
    do_triage(store, tid)
    lifecycle.escalate(store, tid, "x")
    with pytest.raises(NotFoundError, match="nobody"):
        lifecycle.claim(store, tid, "nobody")


def test_inactive_agent_cannot_claim(store: Store) -> None:
    with_agents(store)
    agents.set_agent(store, "bo", {"active": False})
    tid = new_ticket(store)
    do_triage(store, tid)
    lifecycle.escalate(store, tid, "x")
    with pytest.raises(ConflictError, match="not active"):
        lifecycle.claim(store, tid, "bo")


# -- random action sequences ------------------------------------------------------------------

Action = Callable[[Store, int], Outcome]
ACTIONS: dict[str, Action] = {
    "triage": do_triage,
    "auto_resolve": lambda s, t: lifecycle.auto_resolve(s, t, "Svar."),
    "escalate": lambda s, t: lifecycle.escalate(s, t, "why"),
    "claim_ana": lambda s, t: lifecycle.claim(s, t, "ana"),
    "claim_bo": lambda s, t: lifecycle.claim(s, t, "bo"),
    "release": lambda s, t: lifecycle.release(s, t, "ana"),
    "await_customer": lambda s, t: lifecycle.await_customer(s, t, "ana", "Fråga."),
    "resolve": lambda s, t: lifecycle.resolve(s, t, "ana"),
    "close": lambda s, t: lifecycle.close(s, t),
    "customer_message": lambda s, t: lifecycle.customer_message(s, t, "Hallå?"),
    "note": lambda s, t: lifecycle.add_note(s, t, "bo", "intern"),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(ACTIONS)), max_size=25))
def test_random_action_sequences_keep_the_machine_sound(actions: list[str]) -> None:
    with Store(":memory:") as store:
        with_agents(store)
        tickets = {new_ticket(store)}
        for name in actions:
            for tid in sorted(tickets):
                status = store.ticket_status(tid)
                events_before = len(store.list_events())
                try:
                    outcome = ACTIONS[name](store, tid)
                except (IllegalTransitionError, ConflictError):
                    assert store.ticket_status(tid) == status, "a refused action changed state"
                    assert len(store.list_events()) == events_before, "a refused action logged"
                    continue
                assert len(store.list_events()) == events_before + 1, "one event per action"
                assert outcome.status in STATES
                tickets.add(outcome.ticket_id)
                if name in lifecycle.TRANSITIONS:
                    assert outcome.status == lifecycle.next_state(status or "", name)
        for tid in tickets:
            assert store.ticket_status(tid) in STATES
        assert store.verify_events().ok


def test_more_messages_on_a_closed_ticket_go_to_its_open_follow_up(store: Store) -> None:
    tid = closed_ticket(store)
    first = lifecycle.customer_message(store, tid, "Det funkar inte.")
    second = lifecycle.customer_message(store, tid, "Hallå??")
    assert first.ticket_id == second.ticket_id != tid
    assert len(store.messages(first.ticket_id)) == 2
