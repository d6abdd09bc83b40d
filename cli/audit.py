"""``events list|verify``: the hash-chained audit log."""

from __future__ import annotations

from typing import Any

import click

from polydesk.errors import ExitCode

from .common import info, open_store
from .output import dumps, emit, output_options

COLUMNS = ["id", "ts", "actor", "kind", "entity", "entity_id", "data"]


@click.group()
def events() -> None:
    """The append-only audit log of every change."""


@events.command(name="list")
@click.option("--ticket", type=int, help="Only events of this ticket number.")
@click.option("--kind", help="Only events of this kind (import, claim, resolve, ...).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="The newest N events.",
)
@output_options
@click.pass_context
def list_events(
    ctx: click.Context, ticket: int | None, kind: str | None, limit: int, fmt: str
) -> None:
    """List the newest events, oldest of them first."""
    from polydesk.text import one_line

    store = open_store(ctx)
    filters: dict[str, Any] = {"kind": kind, "limit": limit}
    if ticket is not None:
        filters.update(entity="ticket", entity_id=ticket)
    rows = store.list_events(**filters)
    if fmt == "table":
        rows = [{**r, "data": one_line(dumps(r["data"]), 60)} for r in rows]
    emit(rows, fmt, COLUMNS, empty="No events.")


@events.command()
@click.option("--json", "as_json", is_flag=True, help="The report as JSON on stdout.")
@click.pass_context
def verify(ctx: click.Context, as_json: bool) -> None:
    """Check the whole hash chain; exit 6 if any event was edited, removed or reordered."""
    store = open_store(ctx)
    report = store.verify_events()
    if as_json:
        problems = [{"event": p.event_id, "reason": p.reason} for p in report.problems]
        click.echo(dumps({"ok": report.ok, "checked": report.checked, "problems": problems}))
    else:
        for problem in report.problems:
            info(f"event {problem.event_id}: {problem.reason}")
        info(
            f"{report.checked} events checked: "
            + ("chain intact" if report.ok else f"{len(report.problems)} problems")
        )
    if not report.ok:
        ctx.exit(int(ExitCode.INTEGRITY))


COMMANDS = [events]
