"""Import and export: every bad record named, good ones kept, idempotent, round-trips."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polydesk.store import Store
from polydesk.ticketio import ImportReport, export_tickets, import_tickets, read_records

from .conftest import Invoker

Row = dict[str, Any]


def run(store: Store, data: bytes, fmt: str = "jsonl", **kw: Any) -> ImportReport:
    return import_tickets(
        store, read_records(io.BytesIO(data), fmt), max_body=kw.pop("max_body", 1000), **kw
    )


def jsonl(*rows: Row | str) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode() + b"\n"


def full_ticket(n: int) -> Row:
    return {
        "id": f"T-{n}",
        "subject": "Paket",
        "language": "sv",
        "channel": "chat",
        "created_at": "2026-11-01T10:00:00Z",
        "customer": {
            "id": f"C-{n % 7}",
            "name": "Lina Berg",
            "email": "lina@example.se",
            "language": "sv",
            "country": "SE",
            "vip": n % 5 == 0,
        },
        "order": {
            "id": f"O-{n % 7}",
            "merchant": "Nordstil",
            "amount_minor": 129900,
            "currency": "SEK",
            "placed_at": "2026-10-20T08:00:00Z",
            "status": "shipped",
            "items": [{"name": "Jacka", "quantity": 1}],
            "installments": [
                {
                    "seq": 1,
                    "due_date": "2026-10-20",
                    "amount_minor": 32475,
                    "status": "paid",
                    "paid_at": "2026-10-20T08:00:00Z",
                }
            ],
        },
        "messages": [
            {
                "direction": "in",
                "body": f"Hej, var är min order {n}?",
                "created_at": "2026-11-01T10:00:00Z",
            }
        ],
    }


BAD_RECORDS: list[tuple[bytes, str, str]] = [
    (b"{not json", "", "malformed JSON"),
    (b"[1, 2]", "", "expected a JSON object"),
    (b'{"id": "X-1", "body": "ok", "colour": "red"}', "colour", "unknown field"),
    (b'{"body": "no id"}', "id", "missing"),
    (b'{"id": 7, "body": "id is a number"}', "id", "expected a string"),
    (b'{"id": "X-2"}', "body", "missing"),
    (b'{"id": "X-3", "body": "   "}', "body", "is empty"),
    (b'{"id": "X-4", "body": "' + b"a" * 1001 + b'"}', "body", "over the limit of 1000"),
    (b'{"id": "X-5", "body": "hi", "language": "xx"}', "language", "unknown language code"),
    (b'{"id": "X-6", "body": "hi", "created_at": "yesterday"}', "created_at", "ISO-8601"),
    (
        b'{"id": "X-7", "body": "hi", "created_at": "2026-01-01T10:00:00"}',
        "created_at",
        "no time zone",
    ),
    (b'{"id": "X-8", "body": "hi", "status": "limbo"}', "status", "is not one of"),
    (
        b'{"id": "X-9", "messages": [{"direction": "sideways", "body": "x"}]}',
        "messages[0].direction",
        "is not one of",
    ),
    (b'{"id": "X-10", "body": "hi", "customer": {"name": "no id"}}', "customer.id", "missing"),
    (
        b'{"id": "X-11", "body": "hi", "customer": {"id": "C"}, "order": {"id": "O",'
        b' "merchant": "m", "amount_minor": 100, "currency": "ZZZ", "placed_at": "2026-01-01"}}',
        "order.currency",
        "unknown currency",
    ),
    (b'{"id": "X-12", "body": "hi", "intent_confidence": 3}', "intent_confidence", "between"),
    (b'{"id": "X-13", "body": "hi", "assignee": "ghost"}', "assignee", "no agent named"),
    (b'{"id": "X-14", "body": "hi", "contacts": true}', "contacts", "got boolean"),
    (b'{"id": "X-15", "body": "caf\xe9"}', "", "invalid UTF-8"),
]


@pytest.mark.parametrize(("line", "field", "reason"), BAD_RECORDS)
def test_each_bad_record_is_named(store: Store, line: bytes, field: str, reason: str) -> None:
    report = run(store, jsonl({"id": "good", "body": "Hej!"}) + line + b"\n")
    assert report.imported == 1
    [rejection] = report.rejected
    assert rejection.line == 2
    assert rejection.field == field
    assert reason in rejection.reason
    assert store.table_counts()["tickets"] == 1


def test_full_documents_store_customer_order_and_installments(store: Store) -> None:
    report = run(store, jsonl(*(full_ticket(n) for n in range(20))))
    assert (report.imported, report.rejected) == (20, [])
    counts = store.table_counts()
    assert (counts["tickets"], counts["customers"], counts["orders"]) == (20, 7, 7)
    assert counts["installments"] == 7
    assert len(store.list_events(kind="import")) == 20


def test_second_import_adds_nothing(store: Store) -> None:
    data = jsonl(*(full_ticket(n) for n in range(10)))
    run(store, data)
    events = len(store.list_events())
    again = run(store, data)
    assert (again.imported, again.existing, again.rejected) == (0, 10, [])
    assert len(store.list_events()) == events


def test_duplicate_id_within_one_file(store: Store) -> None:
    report = run(store, jsonl({"id": "A", "body": "one"}, {"id": "A", "body": "two"}))
    assert report.imported == 1
    assert "line 1" in report.rejected[0].reason


def test_dry_run_keeps_nothing(store: Store) -> None:
    report = run(store, jsonl(*(full_ticket(n) for n in range(5))), dry_run=True)
    assert report.imported == 5
    assert store.table_counts()["tickets"] == 0 and store.list_events() == []


def test_a_record_failing_in_the_database_is_rolled_back_whole(store: Store) -> None:
    first = full_ticket(1)
    other_customer = {**full_ticket(2), "customer": {"id": "C-other", "name": "X"}}
    other_customer["order"] = {**first["order"]}  # the same order, claimed by someone else
    report = run(store, jsonl(first, other_customer))
    assert report.imported == 1
    assert report.rejected[0].field == "order.id"
    assert store.table_counts()["customers"] == 1, "the rejected record's customer was kept"


CSV_HEADER = b"id,subject,body,language,customer_id,customer_name,customer_vip\n"


def test_csv_import(store: Store) -> None:
    data = CSV_HEADER + (
        b'C1,Paket,"Hej, var \xc3\xa4r mitt paket?",sv,K1,Lina,yes\n'
        b"C2,,,sv,,,\n"
        b"C3,x,caf\xe9,fr,,,\n"
        b"C4,too,many,sv,K1,Lina,no,extra\n"
        b'C5,multi,"line one\nline two",en,,,\n'
    )
    report = run(store, data, fmt="csv")
    assert report.imported == 2
    assert [(r.line, r.field) for r in report.rejected] == [(3, "body"), (4, "body"), (5, "")]
    ticket = store.ticket_by_external("C1")
    assert ticket is not None and ticket["customer_vip"] == 1
    assert store.messages(store.ticket_id_by_external("C5") or 0)[0]["body"] == "line one\nline two"


def test_csv_with_unknown_column_is_refused_whole(store: Store) -> None:
    from polydesk.ticketio import RecordError

    with pytest.raises(RecordError, match="unknown: colour"):
        run(store, b"id,body,colour\n1,hi,red\n", fmt="csv")


def test_export_then_import_round_trips(tmp_path: Path, store: Store) -> None:
    run(store, jsonl(*(full_ticket(n) for n in range(12))))
    first = list(export_tickets(store))
    with Store(tmp_path / "other.db") as other:
        report = run(other, jsonl(*first))
        assert (report.imported, report.rejected) == (12, [])
        assert list(export_tickets(other)) == first


def test_thousand_good_fifty_broken(tmp_path: Path, invoke: Invoker) -> None:
    """The issue's scenario, through the CLI: keep 1,000, name the 50, then add nothing."""
    lines: list[bytes] = []
    broken: set[int] = set()
    for n in range(1050):
        if n % 21 == 20:
            bad = BAD_RECORDS[n % len(BAD_RECORDS)][0].replace(b'"X-', f'"bad{n}-'.encode())
            lines.append(bad)
            broken.add(n + 1)
        else:
            lines.append(json.dumps(full_ticket(n)).encode())
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    args = ("import", "tickets", str(source), "--rejects", str(rejects), "--max-body", "1000")
    result = invoke(*args, "--json", code=3)
    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["rejected"]) == (1000, 50)
    named = {json.loads(x)["line"] for x in rejects.read_text().splitlines()}
    assert named == broken
    assert result.stderr.count("rejected ") == 50
    again = json.loads(invoke(*args, "--json", code=3).stdout)
    assert (again["imported"], again["already_present"]) == (0, 1000)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.sampled_from(
    [
        "id",
        "body",
        "subject",
        "language",
        "messages",
        "customer",
        "order",
        "status",
        "created_at",
        "contacts",
        "colour",
    ]
)
records = st.dictionaries(field_names, json_values, max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records | st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=8))
def test_any_input_is_imported_or_named_never_crashes(lines: list[Any]) -> None:
    data = b"\n".join(x if isinstance(x, bytes) else json.dumps(x).encode() for x in lines)
    with Store(":memory:") as store:
        report = run(store, data + b"\n")
        assert report.imported + report.existing + len(report.rejected) == report.read
        assert store.table_counts()["tickets"] == report.imported
        assert store.verify_events().ok


def test_byte_order_mark_is_accepted(store: Store) -> None:
    assert run(store, b'\xef\xbb\xbf{"id": "bom", "body": "hi"}\n').imported == 1
    assert run(store, b"\xef\xbb\xbfid,body\nbom2,hi\n", fmt="csv").imported == 1
