"""``translate``: texts on stdin, or a stored ticket's messages, into another language.

As a pipe it reads plain lines or NDJSON (``{"id": .., "text": ..}``; ``body`` works too, and an
optional ``language`` is the customer's profile language, a prior for ``--from auto``) and
writes one NDJSON record per input line, or with ``--plain`` just the translation. A line that
cannot be read or translated (no model for its language) gets an error record in its place.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import click

from polydesk.errors import ExitCode, InvalidValueError

from .common import info, open_store
from .output import dumps
from .triage import input_items

if TYPE_CHECKING:
    from polydesk.translate import Translator
    from polydesk.triage.pipeline import Pipeline, TicketText

BATCH = 64  # lines per model call: enough to batch sentences, soon enough for a live pipe
Record = dict[str, Any]


def _language(value: str, option: str) -> str:
    from polydesk.languages import normalise_code

    if value == "auto" and option == "--from":
        return value
    try:
        return normalise_code(value)
    except KeyError:
        raise InvalidValueError(option, f"{value!r} is not one of the 35 language codes") from None


class Job:
    """What one ``translate`` run needs: the translator, the languages, detection on demand."""

    def __init__(self, source: str, target: str, beam: int, memory: bool, back: bool) -> None:
        from polydesk.translate import Memory, Translator

        self.source, self.target, self.back = source, target, back
        self.translator: Translator = Translator(
            beam_size=beam, memory=Memory() if memory else None
        )
        self._pipeline: Pipeline | None = None

    def sources(self, texts: list[str], priors: list[str | None]) -> list[str]:
        """Each text's language: the --from language, or language id for --from auto."""
        if self.source != "auto" or not texts:
            return [self.source] * len(texts)
        if self._pipeline is None:
            from polydesk.triage.pipeline import Pipeline

            self._pipeline = Pipeline()  # language id models load once, on first use
        return [d.language for d in self._pipeline.detect(texts, priors)]

    def run(self, ids: list[Any], texts: list[str], sources: list[str]) -> list[Record]:
        results = self.translator.translate_each(texts, sources, self.target)
        done = [r for r in results if not isinstance(r, Exception)]
        backs = iter(self.translator.back_translate(done) if self.back else [])
        records = []
        for ident, result in zip(ids, results, strict=True):
            if isinstance(result, Exception):
                records.append({"id": ident, "error": str(result)})
                continue
            record = {"id": ident, **result.as_dict()}
            if self.back:
                back = next(backs)
                record["back"] = back.text if back else None
                if back is None:
                    record["back_note"] = f"no model covers {result.target}->{result.source}"
            records.append(record)
        return records


def run_pipe(stream: IO[bytes], job: Job, write: Callable[[Record], None]) -> int:
    """Translate every line in input order; returns how many lines failed."""
    failed = 0
    batch: list[tuple[int, TicketText | str]] = []

    def flush() -> int:
        good = [item for _, item in batch if not isinstance(item, str)]
        texts = [item.text for item in good]
        sources = job.sources(texts, [item.profile_language for item in good])
        results = iter(job.run([i.id for i in good], texts, sources) if good else [])
        errors = 0
        for number, item in batch:
            record = {"line": number, "error": item} if isinstance(item, str) else next(results)
            errors += "error" in record
            write(record)
        sys.stdout.flush()
        batch.clear()
        return errors

    for number, item in input_items(stream):
        batch.append((number, item))
        if len(batch) >= BATCH:
            failed += flush()
    return failed + flush()


def _writer(plain: bool) -> Callable[[Record], None]:
    from polydesk.text import sanitize

    def write(record: Record) -> None:
        if not plain:
            sys.stdout.write(dumps(record) + "\n")
            return
        if "error" in record:
            where = f"line {record['line']}" if "line" in record else f"id {record['id']}"
            info(f"{where}: {record['error']}")
        # One line out per line in, even for a text with line breaks or an error.
        sys.stdout.write(" ".join(sanitize(record.get("text", "")).split()) + "\n")

    return write


@click.command()
@click.option("--to", "target", required=True, help="The language to translate into (en, de ...).")
@click.option(
    "--from",
    "source",
    default="auto",
    show_default=True,
    help="The texts' language, or auto: language id per text.",
)
@click.option(
    "--ticket",
    "tickets",
    multiple=True,
    help="Translate this stored ticket's messages instead of stdin (number or external id; "
    "repeatable).",
)
@click.option("--plain", is_flag=True, help="Print only the translations, one line per input.")
@click.option("--back", is_flag=True, help="Add the translation back (where a model covers it).")
@click.option("--beam", type=click.IntRange(1, 8), default=2, show_default=True, help="Beam size.")
@click.option("--no-memory", is_flag=True, help="Neither read nor write the translation memory.")
@click.pass_context
def translate(
    ctx: click.Context,
    target: str,
    source: str,
    tickets: tuple[str, ...],
    plain: bool,
    back: bool,
    beam: int,
    no_memory: bool,
) -> None:
    """Translate texts (lines on stdin) or a stored ticket's messages.

    Only where an installed model covers the pair, directly or through English (see `polydesk
    models list`); otherwise the record says so. Amounts, order numbers, dates, emails, URLs and
    phone numbers are kept exactly as written.

    \b
    echo '我的订单还没到，已经两个星期了' | polydesk translate --to en
    cat tickets.jsonl | polydesk translate --to en --from zh | jq -r .text
    polydesk translate --ticket 42 --to en --plain
    """
    job = Job(_language(source, "--from"), _language(target, "--to"), beam, not no_memory, back)
    write = _writer(plain)
    if tickets:
        failed = _translate_tickets(ctx, job, tickets, write)
    else:
        failed = run_pipe(sys.stdin.buffer, job, write)
    if failed:
        info(f"{failed} texts could not be translated (see their error records)")
        ctx.exit(int(ExitCode.PARTIAL))


def _translate_tickets(
    ctx: click.Context, job: Job, refs: tuple[str, ...], write: Callable[[Record], None]
) -> int:

    store = open_store(ctx)
    failed = 0
    for ref in refs:
        ticket = store.find_ticket(ref)
        messages = [m for m in store.messages(ticket["id"]) if m["body"].strip()]
        texts = [m["body"] for m in messages]
        records = job.run([m["id"] for m in messages], texts, _languages(job, ticket, messages))
        for message, record in zip(messages, records, strict=True):
            failed += "error" in record
            write(
                {
                    "ticket": ticket["external_id"],
                    "message": record.pop("id"),
                    "direction": message["direction"],
                    "original": message["body"],
                    **record,
                }
            )
    return failed


def _languages(job: Job, ticket: Record, messages: list[Record]) -> list[str]:
    """A message's recorded language, else --from, else language id (the ticket's language
    as the prior)."""
    languages = [m["language"] for m in messages]
    missing = [i for i, lang in enumerate(languages) if not lang]
    prior = ticket["language"] or ticket["customer_language"]
    guessed = job.sources([messages[i]["body"] for i in missing], [prior] * len(missing))
    for index, lang in zip(missing, guessed, strict=True):
        languages[index] = lang
    return languages


COMMANDS = [translate]
