"""Numbered schema migrations, recorded in ``_migrations`` and applied on every open.

A migration is a named function taking the database inside an open transaction. Never edit a
released migration: add a new one. ``polydesk db migrate --list`` shows them without applying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

STATES = (
    "new",
    "triaged",
    "auto_resolved",
    "escalated",
    "claimed",
    "pending_customer",
    "resolved",
    "closed",
)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    apply: Callable[[sqlite_utils.Database], None]

    @property
    def key(self) -> str:
        return f"{self.number:04d}_{self.name}"


def _run(db: sqlite_utils.Database, statements: list[str]) -> None:
    for statement in statements:
        db.execute(statement)


def m0001_initial(db: sqlite_utils.Database) -> None:
    _run(
        db,
        [
            """CREATE TABLE customers (
                id INTEGER PRIMARY KEY,
                external_id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL DEFAULT '',
                email TEXT,
                phone TEXT,
                language TEXT,
                country TEXT,
                vip INTEGER NOT NULL DEFAULT 0 CHECK (vip IN (0, 1)),
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE orders (
                id INTEGER PRIMARY KEY,
                external_id TEXT NOT NULL UNIQUE,
                customer_id INTEGER NOT NULL REFERENCES customers(id),
                merchant TEXT NOT NULL,
                items TEXT NOT NULL DEFAULT '[]',
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
                currency TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'placed' CHECK (status IN
                    ('placed', 'shipped', 'delivered', 'cancelled', 'returned')),
                placed_at TEXT NOT NULL,
                shipped_at TEXT,
                delivered_at TEXT,
                tracking TEXT
            )""",
            """CREATE TABLE installments (
                id INTEGER PRIMARY KEY,
                order_id INTEGER NOT NULL REFERENCES orders(id),
                seq INTEGER NOT NULL,
                due_date TEXT NOT NULL,
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
                currency TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'scheduled'
                    CHECK (status IN ('scheduled', 'paid', 'overdue', 'cancelled')),
                paid_at TEXT,
                UNIQUE (order_id, seq)
            )""",
            """CREATE TABLE agents (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL DEFAULT 'agent'
                    CHECK (role IN ('agent', 'senior', 'specialist', 'admin')),
                languages TEXT NOT NULL DEFAULT '[]',
                refund_limit_minor INTEGER NOT NULL DEFAULT 0 CHECK (refund_limit_minor >= 0),
                refund_currency TEXT NOT NULL DEFAULT 'EUR',
                ui_language TEXT NOT NULL DEFAULT 'en',
                active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
                created_at TEXT NOT NULL
            )""",
            f"""CREATE TABLE tickets (
                id INTEGER PRIMARY KEY,
                external_id TEXT NOT NULL UNIQUE,
                customer_id INTEGER REFERENCES customers(id),
                order_id INTEGER REFERENCES orders(id),
                channel TEXT NOT NULL DEFAULT 'email'
                    CHECK (channel IN ('email', 'chat', 'phone', 'web', 'api', 'social')),
                subject TEXT NOT NULL DEFAULT '',
                language TEXT,
                status TEXT NOT NULL DEFAULT 'new' CHECK (status IN {_in(STATES)}),
                priority TEXT NOT NULL DEFAULT 'normal'
                    CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
                intent TEXT,
                intent_confidence REAL,
                sentiment TEXT,
                route TEXT CHECK (route IN ('auto', 'agent', 'specialist')),
                route_reason TEXT,
                assignee_id INTEGER REFERENCES agents(id),
                lease_expires_at TEXT,
                sla_due_at TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                resolved_at TEXT,
                closed_at TEXT,
                repeat_of INTEGER REFERENCES tickets(id),
                contacts INTEGER NOT NULL DEFAULT 1 CHECK (contacts >= 1)
            )""",
            """CREATE TABLE messages (
                id INTEGER PRIMARY KEY,
                ticket_id INTEGER NOT NULL REFERENCES tickets(id),
                direction TEXT NOT NULL CHECK (direction IN ('in', 'out', 'internal')),
                author TEXT NOT NULL DEFAULT '',
                agent_id INTEGER REFERENCES agents(id),
                language TEXT,
                body TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE refunds (
                id INTEGER PRIMARY KEY,
                ticket_id INTEGER REFERENCES tickets(id),
                order_id INTEGER NOT NULL REFERENCES orders(id),
                amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
                currency TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'requested'
                    CHECK (status IN ('requested', 'approved', 'settled', 'rejected')),
                reason TEXT NOT NULL DEFAULT '',
                requested_by INTEGER REFERENCES agents(id),
                approved_by INTEGER REFERENCES agents(id),
                idempotency_key TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE events (
                id INTEGER PRIMARY KEY,
                ts TEXT NOT NULL,
                actor TEXT NOT NULL,
                kind TEXT NOT NULL,
                entity TEXT NOT NULL,
                entity_id INTEGER,
                data TEXT NOT NULL DEFAULT '{}',
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE
            )""",
            # The audit log is append-only: the database itself refuses edits and deletions.
            """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
               BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
            """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
               BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
            "CREATE INDEX idx_orders_customer ON orders(customer_id)",
            "CREATE INDEX idx_installments_order ON installments(order_id)",
            "CREATE INDEX idx_tickets_status ON tickets(status, sla_due_at)",
            "CREATE INDEX idx_tickets_language ON tickets(language)",
            "CREATE INDEX idx_tickets_intent ON tickets(intent)",
            "CREATE INDEX idx_tickets_assignee ON tickets(assignee_id)",
            "CREATE INDEX idx_tickets_created ON tickets(created_at)",
            "CREATE INDEX idx_tickets_customer ON tickets(customer_id)",
            "CREATE INDEX idx_messages_ticket ON messages(ticket_id)",
            "CREATE INDEX idx_refunds_order ON refunds(order_id)",
            "CREATE INDEX idx_events_entity ON events(entity, entity_id)",
        ],
    )


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "initial", m0001_initial),)
