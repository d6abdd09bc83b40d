"""Setting up: ``init``, ``db migrate``, ``db path`` and shell ``completion``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import db_file, info, open_store
from .output import emit, output_options

if TYPE_CHECKING:
    from polydesk.store import Store


@click.command()
@click.option("--demo", is_flag=True, help="Fill the database with the demo shop (2,100 tickets).")
@click.option("--seed", type=int, default=2024, show_default=True, help="Demo random seed.")
@click.option(
    "--anchor",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Demo 'today' (default: today), for byte-identical demo data.",
)
@click.pass_context
def init(ctx: click.Context, demo: bool, seed: int, anchor: object) -> None:
    """Create the database (or migrate it); with --demo, add the demo shop.

    Safe to run again: existing data is kept and nothing is added twice.
    """
    store = open_store(ctx, create=True)
    info(f"database: {store.path}")
    if demo:
        _load_demo(store, seed, anchor)
    counts = store.table_counts()
    info(", ".join(f"{n} {name}" for name, n in counts.items()))


def _load_demo(store: Store, seed: int, anchor: object) -> None:
    from datetime import UTC, datetime

    from polydesk import config, demo
    from polydesk.agents import ensure_agents
    from polydesk.ticketio import import_tickets

    when = anchor.replace(tzinfo=UTC) if isinstance(anchor, datetime) else None
    shop = demo.generate(seed=seed, anchor=when)
    added = ensure_agents(store, shop.agents, actor="demo")
    report = import_tickets(
        store,
        enumerate(shop.tickets, start=1),
        max_body=config.max_body_chars(),
        source="demo",
        actor="demo",
    )
    languages = len({t["language"] for t in shop.tickets})
    info(
        f"demo: {report.imported} tickets added ({report.existing} already there) in "
        f"{languages} languages; {added} agents added"
    )
    for rejection in report.rejected:
        info(f"demo ticket rejected: {rejection}")


@click.group()
def db() -> None:
    """The database file and its schema."""


@db.command()
@click.option("--list", "list_only", is_flag=True, help="Show migrations; change nothing.")
@output_options
@click.pass_context
def migrate(ctx: click.Context, list_only: bool, fmt: str) -> None:
    """Apply pending schema migrations (they also run on every open)."""
    from polydesk.store import Store

    path = db_file(ctx)
    if list_only:
        rows = _migration_rows(Store(path, readonly=True) if path.exists() else None)
        emit(rows, fmt, ["migration", "applied_at"], title=str(path))
        return
    store = open_store(ctx, create=True)
    info(f"{store.path}: schema up to date ({len(store.applied_migrations())} migrations)")


def _migration_rows(store: Store | None) -> list[dict[str, object]]:
    from polydesk.store.migrations import MIGRATIONS

    applied = store.applied_migrations() if store is not None else {}
    return [{"migration": m.key, "applied_at": applied.get(m.key)} for m in MIGRATIONS]


@db.command()
@click.pass_context
def path(ctx: click.Context) -> None:
    """Print the database path in use."""
    click.echo(str(db_file(ctx)))


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script, e.g. eval "$(polydesk completion bash)"."""
    from click.shell_completion import get_completion_class

    root = ctx.find_root()
    cls = get_completion_class(shell)
    assert cls is not None
    script = cls(root.command, {}, "polydesk", "_POLYDESK_COMPLETE").source()
    click.echo(script)


COMMANDS = [init, db, completion]
