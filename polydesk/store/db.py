"""Opening the database, transactions and migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from .. import timeutil
from ..errors import DatabaseError
from .migrations import MIGRATIONS, Migration

MIGRATIONS_TABLE = "_migrations"


def connect(path: Path, *, readonly: bool = False) -> sqlite_utils.Database:
    """A connection with the pragmas polydesk relies on (WAL, foreign keys, busy timeout)."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=10)
        db = sqlite_utils.Database(conn)
        if not readonly:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
    except (sqlite3.Error, OSError) as exc:
        raise DatabaseError(f"cannot open database {path}: {exc}") from exc
    return db


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One unit of work: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error.

    IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout instead
    of failing when a read transaction tries to upgrade. Nested calls become savepoints.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


@contextmanager
def rolled_back(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run the real code path in a transaction that is always rolled back (``--dry-run``)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    finally:
        db.rollback()


def applied_migrations(db: sqlite_utils.Database) -> dict[str, str]:
    if MIGRATIONS_TABLE not in db.table_names():
        return {}
    rows = db.query(f"SELECT name, applied_at FROM {MIGRATIONS_TABLE}")
    return {row["name"]: row["applied_at"] for row in rows}


def pending_migrations(db: sqlite_utils.Database) -> list[Migration]:
    done = applied_migrations(db)
    return [m for m in MIGRATIONS if m.key not in done]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every pending migration, each in its own transaction. Returns the keys applied."""
    applied = []
    with transaction(db):
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    for migration in pending_migrations(db):
        try:
            with transaction(db):
                migration.apply(db)
                db.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                    [migration.key, timeutil.now_iso()],
                )
        except sqlite3.Error as exc:
            raise DatabaseError(f"migration {migration.key} failed: {exc}") from exc
        applied.append(migration.key)
    return applied
