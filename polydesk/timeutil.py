"""UTC timestamps as ISO-8601 strings: the only time format stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-11-23T14:02:05Z``: second precision, always UTC, always with ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: polydesk stores UTC times only")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return iso(now())


def parse(text: str) -> datetime:
    """Parse ISO-8601; a time needs a zone, a bare date means midnight UTC."""
    value = text.strip()
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z for UTC)")
    return moment.astimezone(UTC)


def normalise(text: str) -> str:
    return iso(parse(text))


def later(moment: datetime, **delta: float) -> str:
    return iso(moment + timedelta(**delta))
