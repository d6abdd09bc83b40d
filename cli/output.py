"""Output for people (a rich table) and for machines (--json, --nl, --csv), defined once."""

from __future__ import annotations

import csv
import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
Row = dict[str, Any]


FORMATS = (
    ("table", "A table for people (default)."),
    ("json", "One JSON array."),
    ("nl", "Newline-delimited JSON, one object per line."),
    ("csv", "CSV with a header row."),
)


FREE_TEXT = frozenset({"subject", "data", "body", "reason", "languages"})


def output_options(fn: F) -> F:
    """--table (default), --json, --nl and --csv, handed to the command as one ``fmt`` argument."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        chosen = [name for name, _ in FORMATS if kwargs.pop(f"fmt_{name}")]
        if len(chosen) > 1:
            raise click.UsageError("choose one of " + ", ".join(f"--{c}" for c in chosen))
        return fn(*args, fmt=chosen[0] if chosen else "table", **kwargs)

    for name, text in reversed(FORMATS):
        wrapper = click.option(f"--{name}", f"fmt_{name}", is_flag=True, help=text)(wrapper)
    return wrapper  # type: ignore[return-value]


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def emit(
    rows: Iterable[Row],
    fmt: str,
    columns: Sequence[str],
    *,
    title: str | None = None,
    empty: str = "Nothing to show.",
    headers: dict[str, str] | None = None,
) -> int:
    """Write rows in ``fmt``, streaming for machine formats. Returns how many were written."""
    writer = {"json": _emit_json, "nl": _emit_nl, "csv": _emit_csv}.get(fmt)
    if writer is not None:
        return writer(rows, columns)
    return _emit_table(list(rows), columns, title, empty, headers or {})


def _emit_json(rows: Iterable[Row], columns: Sequence[str]) -> int:
    out, count = sys.stdout, 0
    out.write("[")
    for row in rows:
        out.write(("," if count else "") + "\n  " + dumps(row))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _emit_nl(rows: Iterable[Row], columns: Sequence[str]) -> int:
    count = 0
    for row in rows:
        sys.stdout.write(dumps(row) + "\n")
        count += 1
    return count


def _emit_csv(rows: Iterable[Row], columns: Sequence[str]) -> int:
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_cell(row.get(c), machine=True) for c in columns])
        count += 1
    return count


def _cell(value: Any, *, machine: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("true" if value else "false") if machine else ("yes" if value else "")
    if isinstance(value, (list, tuple)):
        return dumps(list(value)) if machine else " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return dumps(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _emit_table(
    rows: list[Row], columns: Sequence[str], title: str | None, empty: str, headers: dict[str, str]
) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from polydesk.text import sanitize

    console = Console()
    if not rows:
        click.echo(empty, err=True)
        return 0
    # A column with nothing in it only costs width on an 80-column terminal.
    columns = [c for c in columns if any(row.get(c) not in (None, "") for row in rows)]
    table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False)
    for column in columns:
        # Short columns stay on one line and keep up to 10 characters (ids, states, languages
        # whole); free text (subject, data) wraps in what is left.
        free = column in FREE_TEXT
        header = headers.get(column, column)
        longest = max(len(_cell(row.get(column))) for row in rows)
        table.add_column(
            header,
            no_wrap=not free,
            overflow="fold" if free else "ellipsis",
            min_width=12 if free else max(len(header), min(longest, 10)),
            max_width=None if free else 24,
        )
    for row in rows:
        table.add_row(*(Text(sanitize(_cell(row.get(c)))) for c in columns))
    console.print(table)
    return len(rows)
