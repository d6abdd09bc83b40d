"""``agents add|list|set``: the team, its language skills and refund authority."""

from __future__ import annotations

from typing import Any

import click

from .common import info, open_store
from .output import emit, output_options

COLUMNS = ["name", "role", "languages", "refund_limit", "ui_language", "active"]
ROLE_CHOICE = click.Choice(["agent", "senior", "specialist", "admin"])


def _row(agent: dict[str, Any]) -> dict[str, Any]:
    from polydesk.money import to_major

    limit = to_major(agent["refund_limit_minor"], agent["refund_currency"])
    return {
        **{k: agent[k] for k in COLUMNS if k in agent},
        "refund_limit": f"{limit} {agent['refund_currency']}",
    }


@click.group()
def agents() -> None:
    """The people who take escalations."""


@agents.command(name="add")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, default="agent", show_default=True)
@click.option(
    "--lang",
    "languages",
    multiple=True,
    required=True,
    help="A language the agent reads and writes (repeatable).",
)
@click.option(
    "--refund-limit",
    default="0",
    show_default=True,
    help="Largest refund the agent may settle alone, e.g. 250.00.",
)
@click.option("--currency", default="EUR", show_default=True, help="Currency of the limit.")
@click.option("--ui-lang", default="en", show_default=True, help="Language of the agent's screens.")
@click.option("--dry-run", is_flag=True, help="Check everything, add nothing.")
@output_options
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    role: str,
    languages: tuple[str, ...],
    refund_limit: str,
    currency: str,
    ui_lang: str,
    dry_run: bool,
    fmt: str,
) -> None:
    """Add an agent."""
    from polydesk.agents import add_agent, parse_limit

    values = {
        "name": name,
        "role": role,
        "languages": list(languages),
        "refund_limit_minor": parse_limit(refund_limit, currency),
        "refund_currency": currency,
        "ui_language": ui_lang,
    }
    store = open_store(ctx, create=True)
    if dry_run:
        with store.rolled_back():
            agent = add_agent(store, values)
        info(f"would add agent {agent['name']}")
        return
    agent = add_agent(store, values)
    emit([_row(agent)], fmt, COLUMNS)


@agents.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="Include inactive agents.")
@output_options
@click.pass_context
def list_agents(ctx: click.Context, show_all: bool, fmt: str) -> None:
    """List agents."""
    store = open_store(ctx)
    emit(
        (_row(a) for a in store.agents(active_only=not show_all)),
        fmt,
        COLUMNS,
        empty="No agents yet: add one with `polydesk agents add`.",
    )


@agents.command(name="set")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE)
@click.option("--lang", "languages", multiple=True, help="Replace the agent's languages.")
@click.option("--refund-limit", help="New refund limit, e.g. 500.00.")
@click.option("--currency", help="Currency of the refund limit.")
@click.option("--ui-lang", help="Language of the agent's screens.")
@click.option("--active/--inactive", default=None, help="Let the agent work, or stop them.")
@click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")
@output_options
@click.pass_context
def set_(
    ctx: click.Context,
    name: str,
    role: str | None,
    languages: tuple[str, ...],
    refund_limit: str | None,
    currency: str | None,
    ui_lang: str | None,
    active: bool | None,
    dry_run: bool,
    fmt: str,
) -> None:
    """Change an agent's role, languages, refund limit, UI language or activity."""
    from polydesk.agents import parse_limit, set_agent
    from polydesk.errors import NotFoundError

    store = open_store(ctx)
    current = store.agent(name)
    if current is None:
        raise NotFoundError(f"no agent named {name!r}")
    changes: dict[str, Any] = {
        "role": role,
        "ui_language": ui_lang,
        "active": active,
        "refund_currency": currency,
    }
    if languages:
        changes["languages"] = list(languages)
    if refund_limit is not None:
        changes["refund_limit_minor"] = parse_limit(
            refund_limit, currency or current["refund_currency"]
        )
    changes = {k: v for k, v in changes.items() if v is not None}
    if dry_run:
        with store.rolled_back():
            after = set_agent(store, name, changes)
        diff = {k: after[k] for k in changes if current.get(k) != after.get(k)}
        info(f"would change {name}: {diff}" if diff else f"{name}: nothing to change")
        return
    emit([_row(set_agent(store, name, changes))], fmt, COLUMNS)


COMMANDS = [agents]
