"""The append-only, hash-chained audit log.

Each event stores ``prev_hash`` (the hash of the event before it, or 64 zeros for the first) and
``hash`` = sha256 over the canonical JSON of the event's fields including ``prev_hash``. Editing,
deleting, inserting or reordering any row breaks the chain from that row on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from .. import timeutil

GENESIS = "0" * 64
_FIELDS = ("id", "ts", "actor", "kind", "entity", "entity_id", "data", "prev_hash")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(row: dict[str, Any]) -> str:
    payload = {name: row[name] for name in _FIELDS}
    return hashlib.sha256(canonical(payload).encode("utf-8")).hexdigest()


def append(
    db: sqlite_utils.Database,
    *,
    actor: str,
    kind: str,
    entity: str,
    entity_id: int | None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append one event inside the caller's transaction (its write lock orders the chain)."""
    if not db.conn.in_transaction:
        raise RuntimeError("events.append needs an open transaction")
    last = db.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    event_id = int(last[0]) + 1 if last else 1
    row: dict[str, Any] = {
        "id": event_id,
        "ts": timeutil.now_iso(),
        "actor": actor,
        "kind": kind,
        "entity": entity,
        "entity_id": entity_id,
        "data": canonical(data or {}),
        "prev_hash": last[1] if last else GENESIS,
    }
    row["hash"] = event_hash(row)
    db.execute(
        "INSERT INTO events (id, ts, actor, kind, entity, entity_id, data, prev_hash, hash) "
        "VALUES (:id, :ts, :actor, :kind, :entity, :entity_id, :data, :prev_hash, :hash)",
        row,
    )
    return event_id


@dataclass(frozen=True)
class ChainProblem:
    event_id: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    problems: tuple[ChainProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(db: sqlite_utils.Database) -> ChainReport:
    """Walk the whole chain; report every event whose link or hash does not match."""
    problems: list[ChainProblem] = []
    prev_hash, expected_id, checked = GENESIS, 1, 0
    for row in _rows(db):
        checked += 1
        if row["id"] != expected_id:
            problems.append(ChainProblem(row["id"], f"expected event {expected_id} here"))
        if row["prev_hash"] != prev_hash:
            problems.append(ChainProblem(row["id"], "prev_hash does not match the event before"))
        if event_hash(row) != row["hash"]:
            problems.append(ChainProblem(row["id"], "content does not match its hash (edited)"))
        prev_hash, expected_id = row["hash"], row["id"] + 1
    for trigger in ("events_no_update", "events_no_delete"):
        if trigger not in {t.name for t in db.triggers}:
            problems.append(ChainProblem(0, f"append-only trigger {trigger} was removed"))
    return ChainReport(checked, tuple(problems))


def _rows(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    yield from db.query("SELECT * FROM events ORDER BY id")


def list_events(
    db: sqlite_utils.Database,
    *,
    entity: str | None = None,
    entity_id: int | None = None,
    kind: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    where, params = [], []
    for column, value in (("entity", entity), ("entity_id", entity_id), ("kind", kind)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = [dict(r) for r in db.query(sql, params)]
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows[::-1]
