"""Helpers shared by the commands: opening the store, messages on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from polydesk.errors import NotFoundError

if TYPE_CHECKING:
    from polydesk.store import Store


def db_file(ctx: click.Context) -> Path:
    return Path(ctx.obj["db"])


def open_store(ctx: click.Context, *, create: bool = False) -> Store:
    """Open (and migrate) the database; refuse to invent one unless the command creates it."""
    from polydesk.store import Store

    path = db_file(ctx)
    if not create and not path.exists():
        raise NotFoundError(f"no database at {path}: create one with `polydesk init`")
    store = Store(path)
    ctx.call_on_close(store.close)
    return store


def info(message: str) -> None:
    """Progress and logs go to stderr, so stdout stays clean for pipes."""
    click.echo(message, err=True)
