"""Import throughput: `polydesk import tickets` against `sqlite-utils insert`, same rows, same run.

    .venv/bin/python scripts/bench_import.py [--tickets 20000]

Both read the same JSONL file into a fresh database. polydesk validates every field, upserts
customers and orders, writes messages and one hash-chained audit event per ticket, each ticket
atomically; sqlite-utils inserts the flat rows into one table with no checks. The ratio says
what that care costs. Also prints the size of the demo database.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from polydesk import demo

BIN = Path(sys.executable).parent


def write_tickets(path: Path, count: int) -> None:
    shop = demo.generate(anchor=datetime(2026, 11, 20, tzinfo=UTC))
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            doc = dict(shop.tickets[n % len(shop.tickets)])
            doc["id"] = f"bench-{n}"
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "tickets.jsonl"
        write_tickets(source, args.tickets)
        ours = timed(
            [str(BIN / "polydesk"), "--db", str(work / "a.db"), "import", "tickets", str(source)]
        )
        peer = timed(
            [
                str(BIN / "sqlite-utils"),
                "insert",
                str(work / "b.db"),
                "tickets",
                str(source),
                "--nl",
                "--pk",
                "id",
            ]
        )
        n = args.tickets
        print(f"polydesk import tickets : {n / ours:8.0f} tickets/s ({ours:.2f} s for {n})")
        print(f"sqlite-utils insert --nl: {n / peer:8.0f} rows/s    ({peer:.2f} s for {n})")
        print(f"throughput ratio polydesk / sqlite-utils: {peer / ours:.2f}")
        demo_db = work / "demo.db"
        subprocess.run(
            [str(BIN / "polydesk"), "--db", str(demo_db), "init", "--demo"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sqlite3; sqlite3.connect('{demo_db}')"
                ".execute('PRAGMA wal_checkpoint(TRUNCATE)')",
            ],
            check=True,
        )
        size = sum(p.stat().st_size for p in work.glob("demo.db*"))
        print(f"demo database: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
