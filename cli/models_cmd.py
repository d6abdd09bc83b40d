"""``models install|list|coverage|remove``: the translation models an operator adds.

Packages come as Argos Translate ``.argosmodel`` files or CTranslate2 directories, from a path
or a URL; packages Argos Translate already unpacked on this machine are discovered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from polydesk.languages import CODES

from .common import info
from .output import dumps, emit, output_options

if TYPE_CHECKING:
    from polydesk.translate.coverage import Route

COLUMNS = ["pair", "origin", "version", "licence", "source"]
MARKS = {"direct": "D", "pivot": "P", "none": "·", "same": "-"}


@click.group()
def models() -> None:
    """Translation models: install packages, see the coverage, remove them."""


@models.command(name="install")
@click.argument("location", metavar="PATH|URL")
@click.option("--from", "source", help="Source language, if the package does not say.")
@click.option("--to", "target", help="Target language, if the package does not say.")
@click.option("--force", is_flag=True, help="Replace an installed model of the same pair.")
@click.option("--json", "as_json", is_flag=True, help="The installed model as JSON.")
def install(
    location: str, source: str | None, target: str | None, force: bool, as_json: bool
) -> None:
    """Install an Argos Translate package (.argosmodel) or a CTranslate2 model directory.

    The package is checked (archive, files, language codes, CTranslate2 loads it) and recorded
    with its pair, origin, version, sha256 and licence. Installing the same package again
    changes nothing.

    \b
    polydesk models install ~/Downloads/translate-de_en-1_0.argosmodel
    polydesk models install ./opus-mt-de-en-ct2 --from de --to en
    """
    from polydesk.translate import packages

    package, changed = packages.install(location, source=source, target=target, force=force)
    if as_json:
        click.echo(dumps({**package.as_dict(), "changed": changed}))
        return
    state = "installed" if changed else "already installed"
    info(f"{package.pair} {state}: version {package.version}, licence {package.licence}")


@models.command(name="list")
@output_options
def list_models(fmt: str) -> None:
    """The installed and discovered models, and the coverage they give (table: a matrix)."""
    from polydesk.translate import coverage, packages

    available = packages.available()
    rows = [p.as_dict() for p in sorted(available.values(), key=lambda p: p.pair)]
    emit(rows, fmt, COLUMNS, title="translation models", empty="No translation models.")
    if fmt == "table":
        _print_matrix(coverage.matrix(available))


@models.command(name="coverage")
@output_options
@click.option("--from", "source", help="Only pairs from this language.")
@click.option("--to", "target", help="Only pairs into this language.")
def coverage_cmd(fmt: str, source: str | None, target: str | None) -> None:
    """Every pair of the 35 languages: direct, via English (pivot) or none, with the path."""
    from polydesk.translate import coverage, packages

    source, target = (_code(c) if c else None for c in (source, target))
    routes = coverage.matrix(packages.available())
    rows = [
        route.as_dict()
        for route in routes
        if (source is None or route.source == source) and (target is None or route.target == target)
    ]
    emit(rows, fmt, ["from", "to", "coverage", "path"], empty="No such pair.")


@models.command(name="remove")
@click.argument("pair")
def remove(pair: str) -> None:
    """Uninstall the model of PAIR (e.g. zh-en). Discovered Argos packages stay Argos's."""
    from polydesk.translate import packages

    removed = packages.remove(packages.parse_pair(pair))
    info(f"removed {removed.pair} (version {removed.version})")


def _code(value: str) -> str:
    from polydesk.errors import InvalidValueError
    from polydesk.languages import normalise_code

    try:
        return normalise_code(value)
    except KeyError:
        raise InvalidValueError("language", f"{value!r} is not one of the 35 codes") from None


def _print_matrix(routes: list[Route]) -> None:
    """The coverage matrix over the languages that have any model (the rest: one line)."""
    from polydesk.translate.coverage import summary

    counts = summary(routes)
    langs = [c for c in CODES if any(r.covered and c in (r.source, r.target) for r in routes)]
    lines = [
        f"coverage of the {len(CODES) * (len(CODES) - 1)} pairs: {counts['direct']} direct, "
        f"{counts['pivot']} via English, {counts['none']} none"
    ]
    if langs:
        by_pair = {(r.source, r.target): r.kind for r in routes}
        lines.append("from\\to " + " ".join(f"{c:>2}" for c in langs))
        for s in langs:
            cells = (MARKS[by_pair.get((s, t), "same")] for t in langs)
            lines.append(f"{s:<7} " + " ".join(f"{m:>2}" for m in cells))
        lines.append("D direct, P via English, · none")
    others = len(CODES) - len(langs)
    lines.append(f"{others} other languages: no model covers them" if others else "")
    click.echo("\n".join(line for line in lines if line))


COMMANDS = [models]
