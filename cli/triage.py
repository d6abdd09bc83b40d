"""``triage``, ``detect``, ``classify`` and ``intents train|eval|list``: the models at work.

As pipes they read NDJSON (``{"id": .., "text": ..}``; ``body`` works too, and optional
``language`` is the customer's profile language) or plain lines, and stream one NDJSON result
per input line to stdout; a bad line gets an ``{"line": n, "error": ...}`` record in its place.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from polydesk.errors import ExitCode

from .common import info, open_store
from .output import dumps, emit, output_options

if TYPE_CHECKING:
    from polydesk.triage.pipeline import Pipeline, TicketText

BATCH = 256  # lines per model call: big enough to sort by length, small enough for flat memory


def _pipeline(head: str = "default", policy: str | None = None) -> Pipeline:
    from polydesk.triage.pipeline import Pipeline

    return Pipeline(head=head, policy_file=Path(policy) if policy else None)


def parse_line(number: int, line: str) -> TicketText | str:
    """A ticket text from one input line, or the reason it is not one."""
    from polydesk.triage.pipeline import TicketText

    stripped = line.strip()
    if not stripped.startswith("{"):
        return TicketText(number, stripped) if stripped else "empty line"
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError as exc:
        return f"malformed JSON: {exc.msg} at column {exc.colno}"
    text = obj.get("text", obj.get("body")) if isinstance(obj, dict) else None
    if not isinstance(text, str) or not text.strip():
        return "text: missing or empty (give text or body)"
    prior = obj.get("language")
    contacts = obj.get("contacts", 1)
    if not isinstance(contacts, int) or isinstance(contacts, bool) or contacts < 1:
        return "contacts: expected a positive integer"
    return TicketText(
        obj.get("id", number), text, prior if isinstance(prior, str) else None, contacts
    )


def input_items(stream: IO[bytes]) -> Iterator[tuple[int, TicketText | str]]:
    """(line number, parsed item or the reason it is bad) for each input line."""
    for number, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, f"invalid UTF-8 at byte {exc.start}"
            continue
        yield number, parse_line(number, line)


def run_pipe(stream: IO[bytes], stage: Callable[[list[TicketText]], list[dict[str, Any]]]) -> int:
    """Stream results for every line in input order; returns how many lines were bad."""
    bad = 0
    batch: list[tuple[int, TicketText | str]] = []

    def flush() -> None:
        good = [item for _, item in batch if not isinstance(item, str)]
        results = iter(stage(good)) if good else iter(())
        for number, item in batch:
            record = {"line": number, "error": item} if isinstance(item, str) else next(results)
            sys.stdout.write(dumps(record) + "\n")
        sys.stdout.flush()
        batch.clear()

    for number, item in input_items(stream):
        if isinstance(item, str):
            bad += 1
        batch.append((number, item))
        if len(batch) >= BATCH:
            flush()
    flush()
    return bad


@click.command()
@click.option("--head", default="default", show_default=True, help="The intent head to use.")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False), help="Routing policy.")
@click.option("--db", "use_db", is_flag=True, help="Triage the stored new tickets instead.")
@click.option("--limit", type=click.IntRange(min=1), help="With --db: at most this many.")
@click.pass_context
def triage(
    ctx: click.Context, head: str, policy: str | None, use_db: bool, limit: int | None
) -> None:
    """Language, intent, sentiment and route for each ticket.

    \b
    cat tickets.jsonl | polydesk triage | jq .
    echo 'hej, var är mitt paket?' | polydesk triage
    polydesk triage --db          # every stored ticket with status new
    """
    pipeline = _pipeline(head, policy)
    pipeline.load()
    if use_db:
        _triage_db(ctx, pipeline, limit)
        return
    bad = run_pipe(sys.stdin.buffer, lambda items: [r.as_dict() for r in pipeline.triage(items)])
    if bad:
        info(f"{bad} lines could not be read (see their error records)")
        ctx.exit(int(ExitCode.PARTIAL))


def _triage_db(ctx: click.Context, pipeline: Pipeline, limit: int | None) -> None:
    from rich.progress import Progress

    from polydesk.triage.service import pending_count, triage_stored

    store = open_store(ctx)
    total = pending_count(store, limit)
    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("triage", total=total)
        summary = triage_stored(
            store, pipeline, limit=limit, on_batch=lambda n: progress.advance(task, n)
        )
    routes = ", ".join(f"{n} {route}" for route, n in sorted(summary.items()))
    info(f"triaged {sum(summary.values())} tickets: {routes or 'none were new'}")


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@click.command()
@click.argument("texts", nargs=-1)
def detect(texts: tuple[str, ...]) -> None:
    """The language of each text (arguments, or lines on stdin), with confidence.

    An NDJSON line's "language" field is the customer's profile language: a prior that settles
    ambiguous texts.
    """
    pipeline = _pipeline()

    def stage(items: list[TicketText]) -> list[dict[str, Any]]:
        found = pipeline.detect([i.text for i in items], [i.profile_language for i in items])
        return [{"id": i.id, **d.as_dict()} for i, d in zip(items, found, strict=True)]

    _args_or_pipe(texts, stage)


@click.command()
@click.argument("texts", nargs=-1)
@click.option("--head", default="default", show_default=True, help="The intent head to use.")
def classify(texts: tuple[str, ...], head: str) -> None:
    """The intent of each text (arguments, or lines on stdin), with top-3 alternatives."""
    pipeline = _pipeline(head)

    def stage(items: list[TicketText]) -> list[dict[str, Any]]:
        found = pipeline.classify([i.text for i in items])
        return [{"id": i.id, **p.as_dict()} for i, p in zip(items, found, strict=True)]

    _args_or_pipe(texts, stage)


def _args_or_pipe(
    texts: tuple[str, ...], stage: Callable[[list[TicketText]], list[dict[str, Any]]]
) -> None:
    from polydesk.triage.pipeline import TicketText

    if texts:
        for record in stage([TicketText(n, t) for n, t in enumerate(texts, 1)]):
            click.echo(dumps(record))
        return
    if run_pipe(sys.stdin.buffer, stage):
        sys.exit(int(ExitCode.PARTIAL))


@click.group()
def intents() -> None:
    """Intent heads: train your own, evaluate, list."""


@intents.command(name="train")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name of the new head (not a shipped one).")
@click.option(
    "--view",
    default="general",
    show_default=True,
    help="Encoder output to train on: general (any taxonomy), intent (fine-tuned on the "
    "shipped taxonomy; for heads over the same or similar intents), or both side by side: "
    "intent+general (what the shipped head reads).",
)
@click.option("--json", "as_json", is_flag=True, help="The training report as JSON.")
def train(file: Path, name: str, view: str, as_json: bool) -> None:
    """Train a head on FILE (JSONL text/intent, or CSV with text and intent or category).

    The encoder stays frozen: training takes seconds to a minute. The head is exported to ONNX
    and recorded in the manifest; use it with `polydesk triage --head NAME`.
    """
    from polydesk.triage.service import train_head

    report = train_head(file, name, _pipeline(), view=view)
    if as_json:
        click.echo(dumps(report))
        return
    info(
        f"head {name!r} ({report['view']} view): {report['rows']} examples, "
        f"{len(report['labels'])} intents, "
        f"out-of-scope threshold {report['oos_threshold']}, saved in {report['path']}"
    )


@intents.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", "head", default="default", show_default=True, help="The head.")
@click.option("--json", "as_json", is_flag=True, help="All figures as one JSON object.")
def evaluate(file: Path, head: str, as_json: bool) -> None:
    """Accuracy, macro-F1, per-intent and per-language tables and the main confusions on FILE."""
    from polydesk.triage.service import evaluate_head

    result = evaluate_head(file, _pipeline(head))
    if as_json:
        click.echo(dumps(result.as_dict()))
        return
    click.echo(
        f"{result.rows} examples: accuracy {result.accuracy:.1%}, macro-F1 {result.macro_f1:.3f}"
    )
    emit(
        ({"intent": k, **v} for k, v in result.per_intent.items()),
        "table",
        ["intent", "rows", "precision", "recall", "f1"],
        title="per intent",
    )
    automation = result.automation or {}
    emit(
        (
            {"language": k, **v, **{f: automation.get(k, {}).get(f) for f in AUTO_FIELDS}}
            for k, v in result.per_language.items()
        ),
        "table",
        ["language", "rows", "accuracy", *AUTO_FIELDS],
        title="per language (threshold: confidence an automatic answer needs)",
    )
    emit(result.confusions, "table", ["gold", "predicted", "count"], title="main confusions")


AUTO_FIELDS = ["threshold", "auto_rate", "wrong_auto_rate"]


@intents.command(name="calibrate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", "head", required=True, help="Your head (shipped heads come calibrated).")
@click.option(
    "--max-wrong",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.01,
    show_default=True,
    help="Largest share of a language's tickets the machine may answer wrongly.",
)
@click.option("--json", "as_json", is_flag=True, help="The calibration report as JSON.")
def calibrate(file: Path, head: str, max_wrong: float, as_json: bool) -> None:
    """Set per-language confidence thresholds of head NAME from labelled examples in FILE.

    FILE is like a training file, with a "language" per row (detected where missing); use
    examples the head was not trained on. In a language where the head is weaker, the threshold
    rises and more tickets go to people. A language with no threshold that keeps wrong automatic
    answers under --max-wrong gets 1.0: nothing is answered automatically in it.
    """
    from polydesk.triage.service import calibrate_head

    report = calibrate_head(file, _pipeline(head), max_wrong=max_wrong)
    if as_json:
        click.echo(dumps(report))
        return
    emit(
        (
            {"language": lang, "threshold": v["threshold"], **v["cross_fitted"]}
            for lang, v in report["per_language"].items()
        ),
        "table",
        ["language", "threshold", "rows", "accuracy", "auto_rate", "wrong_auto_rate"],
        title=f"head {head!r}: thresholds for at most {max_wrong:.1%} wrong automatic answers "
        "(rates cross-fitted: thresholds set on half the rows, measured on the other half)",
    )


@intents.command(name="list")
@output_options
def list_heads(fmt: str) -> None:
    """The heads available: shipped and trained here."""
    from polydesk.triage.heads import available

    rows = [
        {"name": h["name"], "origin": h["origin"], "kind": h.get("kind"), "source": h.get("source")}
        for h in available()
    ]
    emit(rows, fmt, ["name", "origin", "kind", "source"], empty="No heads.")


COMMANDS = [triage, detect, classify, intents]
