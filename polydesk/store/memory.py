"""The translation memory: an SQLite cache of sentence translations, in its own file.

It sits in the store package with the rest of polydesk's SQL; the translation engine
(polydesk/translate) only calls get/put.

Keyed by model (weights and decoding settings), pair and the sentence as the model saw it:
with amounts, order numbers and the like already replaced by surrogates, so a macro sent with a
different order number is still a hit. Repeated macro-sized texts cost a lookup, not a model
call. It lives in ``$POLYDESK_HOME/translation-memory.db``, apart from the ticket database: it
is a cache, safe to delete, and never part of a backup or the audit log.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from .. import config

FILENAME = "translation-memory.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory (
    model TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    text TEXT NOT NULL,
    translation TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (model, source, target, text)
) WITHOUT ROWID
"""
_CHUNK = 400  # parameters per IN (...) query, well under SQLite's limit


def default_path() -> Path:
    return config.data_dir() / FILENAME


class Memory:
    """Thread-safe get/put of sentence translations; the file is created on first write."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        if self._db is None and (create or self.path.exists()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            self._db = db
        return self._db

    def get(self, model: str, source: str, target: str, texts: Sequence[str]) -> dict[str, str]:
        """The remembered translations among ``texts``, by text."""
        found: dict[str, str] = {}
        with self._lock:
            db = self._connect(create=False)
            if db is None:
                return found
            unique = list(dict.fromkeys(texts))
            for start in range(0, len(unique), _CHUNK):
                part = unique[start : start + _CHUNK]
                sql = (
                    "SELECT text, translation FROM memory WHERE model = ? AND source = ? "
                    f"AND target = ? AND text IN ({','.join('?' * len(part))})"
                )
                found.update(db.execute(sql, [model, source, target, *part]).fetchall())
        return found

    def put(self, model: str, source: str, target: str, pairs: Iterable[tuple[str, str]]) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = [(model, source, target, text, out, now) for text, out in pairs]
        if not rows:
            return
        with self._lock:
            db = self._connect(create=True)
            assert db is not None
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO memory VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")

    def count(self) -> int:
        with self._lock:
            db = self._connect(create=False)
            return int(db.execute("SELECT count(*) FROM memory").fetchone()[0]) if db else 0

    def clear(self) -> int:
        """Forget everything; returns how many translations were dropped."""
        dropped = self.count()
        with self._lock:
            db = self._connect(create=False)
            if db is not None:
                db.execute("DELETE FROM memory")
        return dropped

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
