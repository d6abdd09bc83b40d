"""The ``polydesk`` command: a thin click front door over the core library.

Core errors become one line on stderr and a documented exit code here, at one boundary; users
never see a traceback for bad input. Heavy modules (the store, models) are imported inside the
commands that need them, so ``polydesk --help`` stays fast.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Any

import click

from polydesk import __version__
from polydesk.errors import ExitCode, PolydeskError

EXIT_CODES_HELP = "\b\nExit codes:\n" + "\n".join(
    f"  {code.value}  {code.name.lower().replace('_', ' ')}" for code in ExitCode
)


class PolydeskGroup(click.Group):
    """A group that reports polydesk errors as messages with their exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PolydeskError as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            ctx.exit(int(exc.exit_code))
        except sqlite3.Error as exc:
            click.secho(f"Error: database: {exc}", fg="red", err=True)
            ctx.exit(int(ExitCode.ERROR))
        except BrokenPipeError:
            # The reader went away (``| head``): stop quietly, like other Unix tools.
            sys.stderr.close()
            ctx.exit(int(ExitCode.OK))
        except OSError as exc:
            click.secho(f"Error: {exc.strerror or exc}: {exc.filename or ''}", fg="red", err=True)
            ctx.exit(int(ExitCode.ERROR))
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            # A bug, not bad input: say so plainly; the traceback only on request.
            if os.environ.get("POLYDESK_DEBUG"):
                raise
            click.secho(
                f"Error: internal error ({type(exc).__name__}: {exc}); "
                "run again with POLYDESK_DEBUG=1 for details and please report it",
                fg="red",
                err=True,
            )
            ctx.exit(int(ExitCode.ERROR))


@click.group(cls=PolydeskGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="polydesk")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    help="The ticket database (default: $POLYDESK_DB, else the XDG data dir).",
)
@click.pass_context
def cli(ctx: click.Context, db_path: str | None) -> None:
    """polydesk: a multilingual, offline support desk in your terminal.

    Machines triage every ticket and answer routine ones; people take the rest,
    in any of 35 languages. State lives in one SQLite file.
    """
    from polydesk.config import db_path as resolve

    ctx.obj = {"db": resolve(db_path)}


def main() -> None:
    cli(prog_name="polydesk")


def _register() -> None:
    from . import admin, agents, audit, models_cmd, tickets, translate, triage

    for module in (admin, tickets, triage, translate, models_cmd, agents, audit):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
