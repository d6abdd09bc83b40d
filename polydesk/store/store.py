"""The store: typed operations over customers, orders, tickets, messages, agents and events.

Callers group operations into units of work with :meth:`Store.transaction`; every method that
writes expects to run inside one (so an event and the change it records commit together).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import NotFoundError
from . import db as dbmod
from . import events
from .migrations import Migration

Row = dict[str, Any]

_TICKET_VIEW = """
SELECT t.*, c.external_id AS customer_external_id, c.name AS customer_name,
       c.email AS customer_email, c.phone AS customer_phone, c.language AS customer_language,
       c.country AS customer_country, c.vip AS customer_vip,
       o.external_id AS order_external_id, a.name AS assignee
FROM tickets t
LEFT JOIN customers c ON c.id = t.customer_id
LEFT JOIN orders o ON o.id = t.order_id
LEFT JOIN agents a ON a.id = t.assignee_id
"""


@dataclass
class TicketFilter:
    """Which tickets to list or export. Empty lists mean "any"."""

    statuses: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    assignee: str | None = None
    since: str | None = None
    limit: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (
            ("t.status", self.statuses),
            ("t.language", self.languages),
            ("t.intent", self.intents),
        ):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        if self.assignee is not None:
            clauses.append("a.name = ?")
            params.append(self.assignee)
        if self.since is not None:
            clauses.append("t.created_at >= ?")
            params.append(self.since)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class Store:
    """An open polydesk database. Migrations are applied on open unless ``migrate=False``."""

    def __init__(self, path: Path | str, *, migrate: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        self.db = dbmod.connect(self.path, readonly=readonly)
        if migrate and not readonly:
            dbmod.migrate(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[sqlite_utils.Database]:
        return dbmod.transaction(self.db)

    def rolled_back(self) -> AbstractContextManager[sqlite_utils.Database]:
        """A unit of work that is always undone: ``--dry-run`` runs the real path, keeps nothing."""
        return dbmod.rolled_back(self.db)

    # -- migrations ---------------------------------------------------------------------------

    def applied_migrations(self) -> dict[str, str]:
        return dbmod.applied_migrations(self.db)

    def pending_migrations(self) -> list[Migration]:
        return dbmod.pending_migrations(self.db)

    def migrate(self) -> list[str]:
        return dbmod.migrate(self.db)

    # -- events -------------------------------------------------------------------------------

    def append_event(
        self,
        actor: str,
        kind: str,
        entity: str,
        entity_id: int | None,
        data: dict[str, Any] | None = None,
    ) -> int:
        return events.append(
            self.db, actor=actor, kind=kind, entity=entity, entity_id=entity_id, data=data
        )

    def verify_events(self) -> events.ChainReport:
        return events.verify(self.db)

    def list_events(self, **filters: Any) -> list[Row]:
        return events.list_events(self.db, **filters)

    # -- generic helpers ----------------------------------------------------------------------

    def _one(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> Row | None:
        rows = list(self.db.query(sql, params))
        return dict(rows[0]) if rows else None

    def _insert(self, table: str, values: Row) -> int:
        columns = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        cursor = self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        return int(cursor.lastrowid or 0)

    def _update(self, table: str, row_id: int, values: Row) -> None:
        sets = ", ".join(f"{name} = :{name}" for name in values)
        self.db.execute(f"UPDATE {table} SET {sets} WHERE id = :_id", {**values, "_id": row_id})

    # -- customers and orders -----------------------------------------------------------------

    def customer_by_external(self, external_id: str) -> Row | None:
        return self._one("SELECT * FROM customers WHERE external_id = ?", [external_id])

    def customer(self, customer_id: int) -> Row | None:
        return self._one("SELECT * FROM customers WHERE id = ?", [customer_id])

    def insert_customer(self, values: Row) -> int:
        return self._insert("customers", values)

    def order_by_external(self, external_id: str) -> Row | None:
        return self._one("SELECT * FROM orders WHERE external_id = ?", [external_id])

    def order(self, order_id: int) -> Row | None:
        row = self._one("SELECT * FROM orders WHERE id = ?", [order_id])
        if row is not None:
            row["items"] = json.loads(row["items"])
        return row

    def insert_order(self, values: Row) -> int:
        return self._insert("orders", {**values, "items": json.dumps(values.get("items", []))})

    def insert_installment(self, values: Row) -> int:
        return self._insert("installments", values)

    def installments(self, order_id: int) -> list[Row]:
        sql = "SELECT * FROM installments WHERE order_id = ? ORDER BY seq"
        return [dict(r) for r in self.db.query(sql, [order_id])]

    # -- tickets and messages -----------------------------------------------------------------

    def ticket(self, ticket_id: int) -> Row | None:
        return self._one(_TICKET_VIEW + " WHERE t.id = ?", [ticket_id])

    def ticket_by_external(self, external_id: str) -> Row | None:
        return self._one(_TICKET_VIEW + " WHERE t.external_id = ?", [external_id])

    def find_ticket(self, ref: str) -> Row:
        """A ticket by its number or its external id; :class:`NotFoundError` if neither."""
        row = self.ticket(int(ref)) if ref.isdigit() else None
        row = row or self.ticket_by_external(ref)
        if row is None:
            raise NotFoundError(f"no ticket {ref!r}")
        return row

    def ticket_id_by_external(self, external_id: str) -> int | None:
        sql = "SELECT id FROM tickets WHERE external_id = ?"
        row = self.db.execute(sql, [external_id]).fetchone()
        return int(row[0]) if row else None

    def ticket_status(self, ticket_id: int) -> str | None:
        row = self.db.execute("SELECT status FROM tickets WHERE id = ?", [ticket_id]).fetchone()
        return row[0] if row else None

    def insert_ticket(self, values: Row) -> int:
        return self._insert("tickets", values)

    def update_ticket(self, ticket_id: int, values: Row) -> None:
        self._update("tickets", ticket_id, values)

    def iter_tickets(self, flt: TicketFilter | None = None) -> Iterator[Row]:
        where, params = (flt or TicketFilter()).where()
        sql = _TICKET_VIEW + where + " ORDER BY t.id"
        if flt and flt.limit:
            sql += f" LIMIT {int(flt.limit)}"
        for row in self.db.query(sql, params):
            yield dict(row)

    def count_tickets(self, flt: TicketFilter | None = None) -> int:
        where, params = (flt or TicketFilter()).where()
        sql = "SELECT count(*) FROM tickets t LEFT JOIN agents a ON a.id = t.assignee_id" + where
        return int(self.db.execute(sql, params).fetchone()[0])

    def lapsed_leases(self, at: str) -> list[int]:
        sql = (
            "SELECT id FROM tickets WHERE status = 'claimed' "
            "AND (lease_expires_at IS NULL OR lease_expires_at <= ?)"
        )
        return [int(r[0]) for r in self.db.execute(sql, [at]).fetchall()]

    def tickets_to_triage(self, after_id: int, limit: int) -> list[Row]:
        """New tickets after ``after_id`` with their latest customer message, oldest first."""
        sql = """
            SELECT t.id, t.subject, t.contacts, c.language AS customer_language,
                   (SELECT m.body FROM messages m WHERE m.ticket_id = t.id AND m.direction = 'in'
                    ORDER BY m.id DESC LIMIT 1) AS body
            FROM tickets t LEFT JOIN customers c ON c.id = t.customer_id
            WHERE t.status = 'new' AND t.id > ? ORDER BY t.id LIMIT ?"""
        return [dict(r) for r in self.db.query(sql, [after_id, limit])]

    def follow_ups(self, ticket_id: int) -> list[Row]:
        """Tickets opened as repeat contacts of ``ticket_id``, oldest first."""
        sql = "SELECT id, status FROM tickets WHERE repeat_of = ? ORDER BY id"
        return [dict(r) for r in self.db.query(sql, [ticket_id])]

    def count_tickets_to_triage(self) -> int:
        sql = "SELECT count(*) FROM tickets WHERE status = 'new'"
        return int(self.db.execute(sql).fetchone()[0])

    def messages(self, ticket_id: int) -> list[Row]:
        sql = (
            "SELECT m.*, a.name AS agent FROM messages m LEFT JOIN agents a ON a.id = m.agent_id "
            "WHERE m.ticket_id = ? ORDER BY m.id"
        )
        return [dict(r) for r in self.db.query(sql, [ticket_id])]

    def insert_message(self, values: Row) -> int:
        return self._insert("messages", values)

    # -- agents -------------------------------------------------------------------------------

    def agent(self, name: str) -> Row | None:
        return _agent_row(self._one("SELECT * FROM agents WHERE name = ?", [name]))

    def agent_by_id(self, agent_id: int) -> Row | None:
        return _agent_row(self._one("SELECT * FROM agents WHERE id = ?", [agent_id]))

    def agents(self, *, active_only: bool = False) -> list[Row]:
        sql = (
            "SELECT * FROM agents" + (" WHERE active = 1" if active_only else "") + " ORDER BY name"
        )
        return [r for r in (_agent_row(dict(x)) for x in self.db.query(sql)) if r]

    def insert_agent(self, values: Row) -> int:
        return self._insert("agents", _agent_values(values))

    def update_agent(self, agent_id: int, values: Row) -> None:
        self._update("agents", agent_id, _agent_values(values))

    # -- overview -----------------------------------------------------------------------------

    def table_counts(self) -> dict[str, int]:
        names = ("customers", "orders", "installments", "tickets", "messages", "agents", "refunds")
        return {n: int(self.db.execute(f"SELECT count(*) FROM {n}").fetchone()[0]) for n in names}

    def counts_by(self, column: str) -> dict[str, int]:
        if column not in {"status", "language", "intent", "route", "priority", "channel"}:
            raise ValueError(column)
        sql = f"SELECT {column} AS k, count(*) AS n FROM tickets GROUP BY {column} ORDER BY n DESC"
        return {str(r["k"]): int(r["n"]) for r in self.db.query(sql)}


def _agent_row(row: Row | None) -> Row | None:
    if row is not None:
        row["languages"] = json.loads(row["languages"])
        row["active"] = bool(row["active"])
    return row


def _agent_values(values: Row) -> Row:
    out = dict(values)
    if "languages" in out:
        out["languages"] = json.dumps(list(out["languages"]))
    if "active" in out:
        out["active"] = int(bool(out["active"]))
    return out
