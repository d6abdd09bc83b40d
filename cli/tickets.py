"""Tickets in and out: ``import tickets``, ``export``, ``tickets list`` and ``tickets show``."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from polydesk.errors import ExitCode, InvalidValueError

from .common import info, open_store
from .output import dumps, emit, output_options

if TYPE_CHECKING:
    from polydesk.store import Store, TicketFilter
    from polydesk.ticketio import ImportReport, Rejection

LIST_COLUMNS = [
    "id",
    "status",
    "language",
    "intent",
    "route",
    "assignee",
    "customer",
    "subject",
    "created_at",
]


ROW_COLUMNS = [
    "id",
    "external_id",
    "status",
    "language",
    "intent",
    "intent_confidence",
    "sentiment",
    "priority",
    "route",
    "route_reason",
    "assignee",
    "customer",
    "subject",
    "created_at",
]
LIST_HEADERS = {"language": "lang", "priority": "prio", "created_at": "created"}


@click.group(name="import")
def import_group() -> None:
    """Bring records into the database."""


@import_group.command(name="tickets")
@click.argument("source", type=click.File("rb"))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="Input format; auto goes by the file extension (stdin: jsonl).",
)
@click.option("--rejects", type=click.File("w"), help="Also write rejected records here (JSONL).")
@click.option("--max-body", type=click.IntRange(min=1), help="Longest message body in characters.")
@click.option("--dry-run", is_flag=True, help="Check and run everything, keep nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.pass_context
def import_tickets(
    ctx: click.Context,
    source: IO[bytes],
    fmt: str,
    rejects: IO[str] | None,
    max_body: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import tickets from a JSONL or CSV FILE, or - for stdin, streaming.

    Every valid record is kept; each bad one is reported on stderr with its line, field and
    reason (exit code 3). Tickets whose id is already stored are skipped, so importing the same
    file twice adds nothing. JSONL is the format `polydesk export` writes; the short form is
    {"id": "T-1", "body": "..."}. CSV columns: id, body, subject, language, channel, created_at,
    customer_id, customer_name, customer_email, customer_phone, customer_language,
    customer_country, customer_vip.
    """
    from polydesk import config
    from polydesk.ticketio import RecordError, import_tickets, read_records

    store = open_store(ctx, create=True)
    kind = _format_of(source, fmt)
    name = getattr(source, "name", "-")
    progress = _Progress(name)

    def on_reject(rejection: Rejection) -> None:
        info(f"rejected {name}: {rejection}")
        if rejects is not None:
            rejects.write(dumps(rejection.as_dict()) + "\n")

    try:
        report = import_tickets(
            store,
            read_records(source, kind),
            max_body=max_body or config.max_body_chars(),
            dry_run=dry_run,
            source=name,
            on_reject=on_reject,
            on_progress=progress.update,
        )
    except RecordError as exc:
        raise InvalidValueError(f"{name}: {exc.field}", exc.reason) from None
    progress.done()
    _summary(report, as_json)
    if report.rejected:
        ctx.exit(int(ExitCode.PARTIAL))


def _format_of(source: IO[bytes], fmt: str) -> str:
    if fmt != "auto":
        return fmt
    return "csv" if str(getattr(source, "name", "")).lower().endswith(".csv") else "jsonl"


class _Progress:
    """A one-line counter on stderr when it is a terminal; silent in pipes and CI logs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.live = sys.stderr.isatty()

    def update(self, report: ImportReport) -> None:
        if self.live:
            click.echo(
                f"\r{self.name}: {report.read} read, {report.imported} added", nl=False, err=True
            )

    def done(self) -> None:
        if self.live:
            click.echo(err=True)


def _summary(report: ImportReport, as_json: bool) -> None:
    if as_json:
        click.echo(
            dumps({**report.as_dict(), "rejections": [r.as_dict() for r in report.rejected]})
        )
        return
    verb = "would add" if report.dry_run else "added"
    info(
        f"{report.read} read, {verb} {report.imported}, {report.existing} already present, "
        f"{len(report.rejected)} rejected"
    )


def _filter_options(fn: Any) -> Any:
    options = [
        click.option("--status", "statuses", multiple=True, help="Only this status (repeatable)."),
        click.option("--lang", "languages", multiple=True, help="Only this language (repeatable)."),
        click.option("--intent", "intents", multiple=True, help="Only this intent (repeatable)."),
        click.option("--assignee", help="Only tickets held by this agent."),
        click.option("--since", help="Only tickets created at or after this ISO date/time."),
        click.option("--limit", type=click.IntRange(min=1), help="At most this many tickets."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _make_filter(**kw: Any) -> TicketFilter:
    from polydesk import timeutil
    from polydesk.languages import normalise_code
    from polydesk.store import TicketFilter
    from polydesk.store.migrations import STATES

    for status in kw["statuses"]:
        if status not in STATES:
            raise InvalidValueError("--status", f"{status!r} is not one of {', '.join(STATES)}")
    try:
        languages = [normalise_code(code) for code in kw["languages"]]
    except KeyError as exc:
        raise InvalidValueError("--lang", f"unknown language code {exc.args[0]!r}") from None
    since = None
    if kw["since"]:
        try:
            since = timeutil.normalise(kw["since"])
        except ValueError as exc:
            raise InvalidValueError("--since", str(exc)) from None
    return TicketFilter(
        statuses=list(kw["statuses"]),
        languages=languages,
        intents=list(kw["intents"]),
        assignee=kw["assignee"],
        since=since,
        limit=kw["limit"],
    )


@click.command()
@click.argument("output", type=click.Path(dir_okay=False, allow_dash=True), required=False)
@click.option("--nl", is_flag=True, help="Write newline-delimited JSON to stdout.")
@_filter_options
@click.pass_context
def export(ctx: click.Context, output: str | None, nl: bool, **filters: Any) -> None:
    """Export tickets as JSONL (the format `import tickets` reads) to OUTPUT or stdout.

    Each line holds a ticket with its customer, order, installments and messages, so
    export -> import into another database round-trips.
    """
    from polydesk.ticketio import export_tickets

    store = open_store(ctx)
    docs = export_tickets(store, _make_filter(**filters))
    if nl or output in (None, "-"):
        count = emit(docs, "nl", [])
    else:
        count = _write_jsonl(Path(output), docs)
    info(f"exported {count} tickets")


def _write_jsonl(path: Path, docs: Any) -> int:
    """Write to a temporary file, then rename: a failed export never leaves half a file."""
    tmp = path.with_name(path.name + ".partial")
    count = 0
    with tmp.open("w", encoding="utf-8") as out:
        for doc in docs:
            out.write(dumps(doc) + "\n")
            count += 1
    tmp.replace(path)
    return count


@click.group()
def tickets() -> None:
    """List and inspect tickets."""


@tickets.command(name="list")
@_filter_options
@output_options
@click.pass_context
def list_tickets(ctx: click.Context, fmt: str, **filters: Any) -> None:
    """List tickets by number (the table shows the first 50 unless --limit)."""
    store = open_store(ctx)
    flt = _make_filter(**filters)
    if fmt == "table" and flt.limit is None:
        flt.limit = 50
    total = store.count_tickets(flt) if fmt == "table" else None
    rows = (_list_row(r, fmt) for r in store.iter_tickets(flt))
    columns = LIST_COLUMNS if fmt == "table" else ROW_COLUMNS
    shown = emit(rows, fmt, columns, empty="No tickets match.", headers=LIST_HEADERS)
    if total is not None and total > shown:
        info(f"{shown} of {total} shown; use --limit or --json for all")


def _list_row(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    from polydesk.text import one_line

    out = {c: row.get(c) for c in ROW_COLUMNS}
    out["customer"] = row["customer_name"]
    if fmt == "table":
        out["subject"] = one_line(row["subject"] or "", 40)
        out["created_at"] = _short_time(row["created_at"])
    return out


def _short_time(value: str) -> str:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%m-%d %H:%M")


@tickets.command(name="show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="The ticket document as JSON.")
@click.pass_context
def show_ticket(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show one ticket by number (4412) or by its external id."""
    from polydesk.ticketio import ticket_document

    store = open_store(ctx)
    row = store.find_ticket(ref)
    if as_json:
        click.echo(dumps({"number": row["id"], **ticket_document(store, row)}))
        return
    _print_ticket(store, row)


def _print_ticket(store: Store, row: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.text import Text

    from polydesk.money import display
    from polydesk.text import sanitize

    console = Console()
    head = f"#{row['id']} ({row['external_id']}) · {row['status']} · {row['language'] or '?'}"
    if row["intent"]:
        head += f" · {row['intent']} {row['intent_confidence'] or 0:.2f}"
    console.print(Text(head, style="bold"))
    console.print(Text(sanitize(f"subject: {row['subject']}")))
    if row["route"]:
        console.print(Text(sanitize(f"route: {row['route']} ({row['route_reason'] or ''})")))
    if row["customer_name"]:
        vip = " ★" if row["customer_vip"] else ""
        console.print(
            Text(
                sanitize(
                    f"customer: {row['customer_name']}{vip} · "
                    f"{row['customer_language']} · {row['customer_country']}"
                )
            )
        )
    order = store.order(row["order_id"]) if row["order_id"] else None
    if order:
        console.print(
            Text(
                sanitize(
                    f"order: #{order['external_id']} · {order['merchant']} · "
                    f"{display(order['amount_minor'], order['currency'])} · "
                    f"{order['status']}"
                )
            )
        )
    for message in store.messages(row["id"]):
        label = {"in": "customer", "out": "reply", "internal": "note"}[message["direction"]]
        console.print(
            Text(f"\n{label} · {message['author']} · {message['created_at']}", style="dim")
        )
        console.print(Text(sanitize(message["body"])))


COMMANDS = [import_group, export, tickets]
