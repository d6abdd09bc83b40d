"""Import and export of tickets: streamed JSONL or CSV in, the same JSONL out.

A ticket document (one JSON object per line) is what :func:`export_tickets` writes and what
:func:`import_tickets` reads, so export -> import round-trips. The short form a developer pipes
in is ``{"id": "T-1", "body": "..."}``; everything else is optional.

Every record is validated on its own: bad ones are reported (line, field, reason) and skipped,
good ones are kept. A ticket whose id is already stored is skipped, so re-importing a file adds
nothing. Each ticket (with its customer, order, messages and event) is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from . import money, timeutil
from .errors import InvalidValueError, PolydeskError
from .languages import normalise_code
from .lifecycle import PRIORITIES, ROUTES
from .store import Store, TicketFilter
from .store.migrations import STATES

Row = dict[str, Any]
CHANNELS = ("email", "chat", "phone", "web", "api", "social")
DIRECTIONS = ("in", "out", "internal")
MAX_ID = 200
BATCH = 500
CSV_COLUMNS = (
    "id",
    "subject",
    "body",
    "language",
    "channel",
    "created_at",
    "customer_id",
    "customer_name",
    "customer_email",
    "customer_phone",
    "customer_language",
    "customer_country",
    "customer_vip",
)


class RecordError(PolydeskError):
    """One input record is not acceptable: which field, and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str
    reason: str
    record_id: str | None = None

    def as_dict(self) -> Row:
        return {"line": self.line, "id": self.record_id, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" (id {self.record_id})" if self.record_id else "")
        return f"{where}: {self.field + ': ' if self.field else ''}{self.reason}"


@dataclass
class ImportReport:
    read: int = 0
    imported: int = 0
    existing: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> Row:
        return {
            "read": self.read,
            "imported": self.imported,
            "already_present": self.existing,
            "rejected": len(self.rejected),
            "dry_run": self.dry_run,
        }


# -- reading ----------------------------------------------------------------------------------

Parsed = tuple[int, Row | RecordError]


def read_jsonl(stream: IO[bytes]) -> Iterator[Parsed]:
    """Yield ``(line_number, object or error)`` for each non-blank line, streaming."""
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            yield number, RecordError("", f"invalid UTF-8 at byte {exc.start}")
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, RecordError("", f"malformed JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            yield number, RecordError("", f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield number, obj


def read_csv(stream: IO[bytes]) -> Iterator[Parsed]:
    """Yield ``(line_number, record or error)`` for each CSV row (header required)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.DictReader(text)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise RecordError("header", f"malformed CSV: {exc}") from None
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown or "id" not in header or "body" not in header:
        raise RecordError(
            "header",
            f"columns must include id and body; unknown: {', '.join(unknown) or 'none'} "
            f"(known: {', '.join(CSV_COLUMNS)})",
        )
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, RecordError("", f"malformed CSV: {exc}")
            start = reader.line_num + 1
            continue
        yield start, _csv_record(row)
        start = reader.line_num + 1


def _csv_record(row: dict[str, Any]) -> Row | RecordError:
    if None in row:
        return RecordError("", "more values than header columns")
    for name, value in row.items():
        if value is None:
            return RecordError(name, "missing value (fewer values than header columns)")
        if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in value):
            return RecordError(name, "invalid UTF-8")
    record: Row = {k: v for k, v in row.items() if not k.startswith("customer_") and v != ""}
    customer = {k[9:]: v for k, v in row.items() if k.startswith("customer_") and v != ""}
    if customer:
        if "vip" in customer:
            customer["vip"] = customer["vip"].strip().lower() in ("1", "true", "yes")
        record["customer"] = customer
    return record


def read_records(stream: IO[bytes], fmt: str) -> Iterator[Parsed]:
    if fmt == "csv":
        return read_csv(stream)
    if fmt in ("jsonl", "json", "ndjson"):
        return read_jsonl(stream)
    raise InvalidValueError("format", f"unknown format {fmt!r} (jsonl or csv)")


# -- validating -------------------------------------------------------------------------------


class _Fields:
    """Pulls typed fields out of one JSON object, naming the field in every error."""

    def __init__(self, obj: Row, prefix: str, allowed: Iterable[str]) -> None:
        unknown = sorted(set(obj) - set(allowed))
        if unknown:
            raise RecordError(prefix + unknown[0], "unknown field")
        self.obj, self.prefix = obj, prefix

    def _get(self, name: str, kind: type | tuple[type, ...], required: bool) -> Any:
        value = self.obj.get(name)
        if value is None:
            if required:
                raise RecordError(self.prefix + name, "missing")
            return None
        if isinstance(value, bool) and kind is not bool:
            raise RecordError(self.prefix + name, f"expected {_kind_name(kind)}, got boolean")
        if not isinstance(value, kind):
            raise RecordError(
                self.prefix + name, f"expected {_kind_name(kind)}, got {type(value).__name__}"
            )
        return value

    def text(self, name: str, *, required: bool = False, max_len: int = 10_000) -> str | None:
        value = self._get(name, str, required)
        if value is not None and len(value) > max_len:
            raise RecordError(self.prefix + name, f"longer than {max_len} characters")
        return value

    def choice(self, name: str, choices: Iterable[str], default: str | None = None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        if value not in choices:
            raise RecordError(self.prefix + name, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def language(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return normalise_code(value)
        except KeyError:
            raise RecordError(self.prefix + name, f"unknown language code {value!r}") from None

    def time(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return timeutil.normalise(value)
        except ValueError as exc:
            raise RecordError(self.prefix + name, f"not an ISO-8601 time: {exc}") from None

    def integer(self, name: str, *, required: bool = False, minimum: int = 0) -> int | None:
        value = self._get(name, int, required)
        if value is not None and value < minimum:
            raise RecordError(self.prefix + name, f"must be >= {minimum}")
        return value

    def number(self, name: str) -> float | None:
        value = self._get(name, (int, float), False)
        if value is not None and not 0.0 <= value <= 1.0:
            raise RecordError(self.prefix + name, "must be between 0 and 1")
        return None if value is None else float(value)

    def flag(self, name: str) -> bool:
        return bool(self._get(name, bool, False))

    def obj_field(self, name: str) -> Row | None:
        return self._get(name, dict, False)

    def list_field(self, name: str) -> list[Any] | None:
        return self._get(name, list, False)

    def currency(self, name: str) -> str:
        value = self.text(name, required=True) or ""
        try:
            return money.check_currency(value)
        except ValueError as exc:
            raise RecordError(self.prefix + name, str(exc)) from None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true/false",
        dict: "an object",
        list: "a list",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


TICKET_FIELDS = (
    "id",
    "subject",
    "body",
    "messages",
    "language",
    "channel",
    "created_at",
    "updated_at",
    "status",
    "priority",
    "intent",
    "intent_confidence",
    "sentiment",
    "route",
    "route_reason",
    "assignee",
    "lease_expires_at",
    "sla_due_at",
    "resolved_at",
    "closed_at",
    "contacts",
    "repeat_of",
    "customer",
    "order",
)
CUSTOMER_FIELDS = ("id", "name", "email", "phone", "language", "country", "vip")
ORDER_FIELDS = (
    "id",
    "merchant",
    "items",
    "amount_minor",
    "currency",
    "status",
    "placed_at",
    "shipped_at",
    "delivered_at",
    "tracking",
    "installments",
)
INSTALLMENT_FIELDS = ("seq", "due_date", "amount_minor", "status", "paid_at")
MESSAGE_FIELDS = ("direction", "author", "agent", "language", "body", "created_at")


@dataclass
class TicketRecord:
    """A validated ticket document, ready to store."""

    external_id: str
    ticket: Row
    messages: list[Row]
    customer: Row | None
    order: Row | None
    assignee: str | None
    repeat_of: str | None


def parse_ticket(obj: Row, *, max_body: int) -> TicketRecord:
    """Validate one ticket document; raise :class:`RecordError` naming the first bad field."""
    f = _Fields(obj, "", TICKET_FIELDS)
    external_id = (f.text("id", required=True, max_len=MAX_ID) or "").strip()
    if not external_id:
        raise RecordError("id", "is empty")
    language = f.language("language")
    created = f.time("created_at") or timeutil.now_iso()
    messages = _parse_messages(f, language, created, max_body)
    ticket = {
        "external_id": external_id,
        "subject": f.text("subject", max_len=500) or "",
        "language": language,
        "channel": f.choice("channel", CHANNELS, "email"),
        "created_at": created,
        "updated_at": f.time("updated_at") or created,
        "status": f.choice("status", STATES, "new"),
        "priority": f.choice("priority", PRIORITIES, "normal"),
        "intent": f.text("intent", max_len=100),
        "intent_confidence": f.number("intent_confidence"),
        "sentiment": f.text("sentiment", max_len=50),
        "route": f.choice("route", ROUTES),
        "route_reason": f.text("route_reason", max_len=500),
        "lease_expires_at": f.time("lease_expires_at"),
        "sla_due_at": f.time("sla_due_at"),
        "resolved_at": f.time("resolved_at"),
        "closed_at": f.time("closed_at"),
        "contacts": f.integer("contacts", minimum=1) or 1,
    }
    customer = _parse_customer(f.obj_field("customer"))
    order = _parse_order(f.obj_field("order"))
    if order is not None and customer is None:
        raise RecordError("order", "an order needs the ticket's customer")
    return TicketRecord(
        external_id,
        ticket,
        messages,
        customer,
        order,
        f.text("assignee", max_len=200),
        f.text("repeat_of", max_len=MAX_ID),
    )


def _parse_messages(f: _Fields, language: str | None, created: str, max_body: int) -> list[Row]:
    body = f.text("body", max_len=10**9)
    raw = f.list_field("messages")
    if body is not None and raw is not None:
        raise RecordError("body", "give either body or messages, not both")
    if raw is None:
        if body is None:
            raise RecordError("body", "missing (a ticket needs body or messages)")
        raw = [{"direction": "in", "body": body}]
        prefix = ""
    else:
        prefix = "messages"
    if not raw:
        raise RecordError("messages", "is empty")
    return [
        _parse_message(item, f"{prefix}[{i}]." if prefix else "", language, created, max_body)
        for i, item in enumerate(raw)
    ]


def _parse_message(
    item: Any, prefix: str, language: str | None, created: str, max_body: int
) -> Row:
    if not isinstance(item, dict):
        raise RecordError(prefix.rstrip("."), "expected an object")
    m = _Fields(item, prefix, MESSAGE_FIELDS)
    body = m.text("body", required=True, max_len=10**9) or ""
    if not body.strip():
        raise RecordError(prefix + "body", "is empty")
    if len(body) > max_body:
        raise RecordError(
            prefix + "body", f"is {len(body)} characters, over the limit of {max_body}"
        )
    return {
        "direction": m.choice("direction", DIRECTIONS, "in"),
        "author": m.text("author", max_len=200) or "",
        "agent": m.text("agent", max_len=200),
        "language": m.language("language") or language,
        "body": body,
        "created_at": m.time("created_at") or created,
    }


def _parse_customer(obj: Row | None) -> Row | None:
    if obj is None:
        return None
    c = _Fields(obj, "customer.", CUSTOMER_FIELDS)
    return {
        "external_id": c.text("id", required=True, max_len=MAX_ID),
        "name": c.text("name", max_len=200) or "",
        "email": c.text("email", max_len=320),
        "phone": c.text("phone", max_len=50),
        "language": c.language("language"),
        "country": c.text("country", max_len=2),
        "vip": int(c.flag("vip")),
    }


def _parse_order(obj: Row | None) -> Row | None:
    if obj is None:
        return None
    o = _Fields(obj, "order.", ORDER_FIELDS)
    currency = o.currency("currency")
    items = o.list_field("items") or []
    order = {
        "external_id": o.text("id", required=True, max_len=MAX_ID),
        "merchant": o.text("merchant", required=True, max_len=200),
        "items": items,
        "amount_minor": o.integer("amount_minor", required=True),
        "currency": currency,
        "status": o.choice(
            "status", ("placed", "shipped", "delivered", "cancelled", "returned"), "placed"
        ),
        "placed_at": o.time("placed_at", required=True),
        "shipped_at": o.time("shipped_at"),
        "delivered_at": o.time("delivered_at"),
        "tracking": o.text("tracking", max_len=100),
    }
    order["installments"] = [
        _parse_installment(item, f"order.installments[{i}].", currency)
        for i, item in enumerate(o.list_field("installments") or [])
    ]
    return order


def _parse_installment(item: Any, prefix: str, currency: str) -> Row:
    if not isinstance(item, dict):
        raise RecordError(prefix.rstrip("."), "expected an object")
    i = _Fields(item, prefix, INSTALLMENT_FIELDS)
    return {
        "seq": i.integer("seq", required=True, minimum=1),
        "due_date": i.time("due_date", required=True),
        "amount_minor": i.integer("amount_minor", required=True),
        "currency": currency,
        "status": i.choice("status", ("scheduled", "paid", "overdue", "cancelled"), "scheduled"),
        "paid_at": i.time("paid_at"),
    }


# -- storing ----------------------------------------------------------------------------------


def import_tickets(
    store: Store,
    records: Iterable[Parsed],
    *,
    max_body: int,
    dry_run: bool = False,
    source: str = "-",
    actor: str = "import",
    on_reject: Callable[[Rejection], None] | None = None,
    on_progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Store every valid record; report the rest. Re-importing the same records adds nothing."""
    report = ImportReport(dry_run=dry_run)
    seen: dict[str, int] = {}

    def reject(line: int, err: RecordError, record_id: str | None = None) -> None:
        rejection = Rejection(line, err.field, err.reason, record_id)
        report.rejected.append(rejection)
        if on_reject:
            on_reject(rejection)

    unit = store.rolled_back if dry_run else store.transaction
    for batch in _batches(records, BATCH):
        with unit():
            for line, item in batch:
                report.read += 1
                _import_one(store, line, item, seen, report, reject, max_body, source, actor)
        if on_progress:
            on_progress(report)
    return report


def _batches(items: Iterable[Parsed], size: int) -> Iterator[list[Parsed]]:
    batch: list[Parsed] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _import_one(
    store: Store,
    line: int,
    item: Row | RecordError,
    seen: dict[str, int],
    report: ImportReport,
    reject: Callable[[int, RecordError, str | None], None],
    max_body: int,
    source: str,
    actor: str,
) -> None:
    if isinstance(item, RecordError):
        reject(line, item, None)
        return
    raw_id = item.get("id")
    record_id = raw_id if isinstance(raw_id, str) else None
    try:
        record = parse_ticket(item, max_body=max_body)
        if record.external_id in seen:
            first = seen[record.external_id]
            raise RecordError("id", f"duplicate: the same id is on line {first} of this input")
        seen[record.external_id] = line
        if store.ticket_id_by_external(record.external_id) is not None:
            report.existing += 1
            return
        with store.transaction():  # a savepoint: this ticket is stored whole or not at all
            _store_record(store, record, source, actor)
    except RecordError as err:
        reject(line, err, record_id)
    except sqlite3.IntegrityError as exc:
        reject(line, RecordError("", f"the database refused it: {exc}"), record_id)
    else:
        report.imported += 1


def _store_record(store: Store, record: TicketRecord, source: str, actor: str) -> int:
    customer_id = _ensure_customer(store, record.customer) if record.customer else None
    order_id = _ensure_order(store, record.order, customer_id) if record.order else None
    values = {**record.ticket, "customer_id": customer_id, "order_id": order_id}
    if record.assignee:
        values["assignee_id"] = _agent_id(store, record.assignee, "assignee")
    if record.repeat_of:
        values["repeat_of"] = store.ticket_id_by_external(record.repeat_of)
        if values["repeat_of"] is None:
            raise RecordError("repeat_of", f"no ticket with id {record.repeat_of!r}")
    ticket_id = store.insert_ticket(values)
    for i, message in enumerate(record.messages):
        agent = message.pop("agent")
        agent_id = _agent_id(store, agent, f"messages[{i}].agent") if agent else None
        store.insert_message({**message, "ticket_id": ticket_id, "agent_id": agent_id})
    store.append_event(
        actor,
        "import",
        "ticket",
        ticket_id,
        {"external_id": record.external_id, "source": source, "status": values["status"]},
    )
    return ticket_id


def _agent_id(store: Store, name: str, field_name: str) -> int:
    agent = store.agent(name)
    if agent is None:
        raise RecordError(field_name, f"no agent named {name!r} (add it with: polydesk agents add)")
    return int(agent["id"])


def _ensure_customer(store: Store, customer: Row) -> int:
    existing = store.customer_by_external(customer["external_id"])
    if existing is not None:
        return int(existing["id"])
    return store.insert_customer({**customer, "created_at": timeutil.now_iso()})


def _ensure_order(store: Store, order: Row, customer_id: int | None) -> int:
    existing = store.order_by_external(order["external_id"])
    if existing is not None:
        if existing["customer_id"] != customer_id:
            raise RecordError("order.id", "this order belongs to another customer")
        return int(existing["id"])
    installments = order.pop("installments")
    order_id = store.insert_order({**order, "customer_id": customer_id})
    for installment in installments:
        store.insert_installment({**installment, "order_id": order_id})
    return order_id


# -- exporting --------------------------------------------------------------------------------


def export_tickets(store: Store, flt: TicketFilter | None = None) -> Iterator[Row]:
    """Yield ticket documents in the format :func:`import_tickets` reads, oldest first."""
    for row in store.iter_tickets(flt):
        yield ticket_document(store, row)


def ticket_document(store: Store, row: Row) -> Row:
    doc: Row = {"id": row["external_id"]}
    for name in TICKET_FIELDS[1:]:
        if name in row and name not in ("customer", "order", "repeat_of"):
            doc[name] = row[name]
    doc["assignee"] = row["assignee"]
    doc["repeat_of"] = _repeat_external(store, row["repeat_of"])
    doc["messages"] = [_message_document(m) for m in store.messages(row["id"])]
    doc["customer"] = _customer_document(store, row["customer_id"])
    doc["order"] = _order_document(store, row["order_id"])
    return doc


def _repeat_external(store: Store, ticket_id: int | None) -> str | None:
    if ticket_id is None:
        return None
    other = store.ticket(ticket_id)
    return other["external_id"] if other else None


def _message_document(m: Row) -> Row:
    return {k: m[k] for k in ("direction", "author", "language", "body", "created_at")} | {
        "agent": m["agent"]
    }


def _customer_document(store: Store, customer_id: int | None) -> Row | None:
    customer = store.customer(customer_id) if customer_id else None
    if customer is None:
        return None
    doc = {k: customer[k] for k in CUSTOMER_FIELDS[1:]}
    return {"id": customer["external_id"], **doc, "vip": bool(customer["vip"])}


def _order_document(store: Store, order_id: int | None) -> Row | None:
    order = store.order(order_id) if order_id else None
    if order is None:
        return None
    doc = {"id": order["external_id"]} | {k: order[k] for k in ORDER_FIELDS[1:-1]}
    doc["installments"] = [
        {k: i[k] for k in INSTALLMENT_FIELDS} for i in store.installments(int(order["id"]))
    ]
    return doc
