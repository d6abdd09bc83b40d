"""The triage pipe streams: results in input order, one error record per bad line, flat memory."""

from __future__ import annotations

import io
import json
import sys
import tracemalloc
from typing import Any

import pytest

from polydesk.cli.triage import BATCH, run_pipe
from polydesk.triage.pipeline import TicketText


def echo_stage(items: list[TicketText]) -> list[dict[str, Any]]:
    return [{"id": i.id, "n": len(i.text)} for i in items]


def lines(count: int) -> bytes:
    rows = (json.dumps({"id": f"t{n}", "text": "hej " * (n % 7 + 1)}) for n in range(count))
    return ("\n".join(rows) + "\n").encode()


class Sink(io.StringIO):
    """Counts what is written instead of keeping it (a pipe into `wc -l`)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def write(self, text: str) -> int:
        self.count += text.count("\n")
        return len(text)


def peak_bytes(monkeypatch: pytest.MonkeyPatch, count: int) -> int:
    data = lines(count)
    sink = Sink()
    monkeypatch.setattr(sys, "stdout", sink)
    tracemalloc.start()
    run_pipe(io.BytesIO(data), echo_stage)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sink.count == count
    return peak


def test_memory_stays_flat_as_input_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    small = peak_bytes(monkeypatch, 5 * BATCH)
    large = peak_bytes(monkeypatch, 80 * BATCH)  # 20,480 lines: 16x the input
    assert large < small * 1.5 + 200_000, (small, large)


def test_order_and_error_records(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    data = b'{"id": "a", "text": "x"}\n\xff\xfe\n{"text": ""}\nplain line\n'
    bad = run_pipe(io.BytesIO(data), echo_stage)
    records = [json.loads(x) for x in out.getvalue().splitlines()]
    assert bad == 2
    assert records[0] == {"id": "a", "n": 1}
    assert records[1]["line"] == 2 and "UTF-8" in records[1]["error"]
    assert records[2]["line"] == 3 and "text" in records[2]["error"]
    assert records[3] == {"id": 4, "n": 10}
