"""The store: schema, pragmas, migrations and the hash-chained audit log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from polydesk.store import Store
from polydesk.store.migrations import MIGRATIONS


def test_open_applies_migrations_and_pragmas(store: Store) -> None:
    assert set(store.applied_migrations()) == {m.key for m in MIGRATIONS}
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    expected = {"customers", "orders", "installments", "tickets", "messages", "agents", "refunds"}
    assert expected <= set(store.db.table_names())


def test_reopening_applies_nothing(db_path: Path) -> None:
    Store(db_path).close()
    with Store(db_path) as again:
        assert again.pending_migrations() == []
        assert again.migrate() == []


def test_readonly_open_does_not_migrate(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    sqlite3.connect(path).close()
    with Store(path, readonly=True) as ro:
        assert [m.key for m in ro.pending_migrations()] == [m.key for m in MIGRATIONS]
    assert sqlite3.connect(path).execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.insert_message(
            {"ticket_id": 999, "direction": "in", "body": "x", "created_at": "2026-01-01T00:00:00Z"}
        )


def test_a_failed_unit_of_work_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.append_event("t", "x", "ticket", 1)
        raise RuntimeError("boom")
    assert store.list_events() == []


def _three_events(store: Store) -> None:
    with store.transaction():
        for n in range(3):
            store.append_event("tester", f"kind{n}", "ticket", n, {"n": n, "text": "häj ✓"})


def test_event_chain_verifies(store: Store) -> None:
    _three_events(store)
    report = store.verify_events()
    assert report.ok and report.checked == 3
    rows = store.list_events()
    assert rows[0]["prev_hash"] == "0" * 64
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]


def test_events_are_append_only(store: Store) -> None:
    _three_events(store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE events SET actor = 'mallory' WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM events WHERE id = 2")


def _tamper(path: Path, sql: str) -> None:
    """What someone with the file and the sqlite3 shell can do: drop the guard, edit a row."""
    conn = sqlite3.connect(path)
    conn.executescript(f"DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete; {sql};")
    conn.close()


@pytest.mark.parametrize(
    ("sql", "bad_event"),
    [
        ("UPDATE events SET data = '{\"n\":5}' WHERE id = 2", 2),
        ("UPDATE events SET actor = 'mallory' WHERE id = 1", 1),
        ("DELETE FROM events WHERE id = 2", 3),
    ],
)
def test_verify_detects_hand_edits(db_path: Path, sql: str, bad_event: int) -> None:
    with Store(db_path) as store:
        _three_events(store)
    _tamper(db_path, sql)
    with Store(db_path) as store:
        report = store.verify_events()
    assert not report.ok
    assert bad_event in {p.event_id for p in report.problems}
    assert any("trigger" in p.reason for p in report.problems)


def test_rolled_back_keeps_nothing(store: Store) -> None:
    with store.rolled_back():
        store.append_event("t", "x", "ticket", 1)
        assert len(store.list_events()) == 1
    assert store.list_events() == []
