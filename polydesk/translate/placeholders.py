"""Protecting amounts, order numbers, dates, emails, URLs and phone numbers from the model.

A translation model may reformat, translate or drop a number it does not know (OPUS-MT zh->en
turns "¥" into ``<unk>``, and now and then loses an order number). Before translation each such
span is replaced by a surrogate, ``ZX1``, ``ZX2`` ... (measured on the zh->en model: opaque
Latin codes like these are copied through unchanged, where ``[1]``, ``{1}`` or ``⟦1⟧`` are
dropped or translated); after translation the surrogates are swapped back for the original
spans. :func:`restore` refuses a translation that lost or duplicated a surrogate, and the
caller repairs that sentence (see ``engine.translate_masked``), so every span survives.

Dates are protected in numeric forms (2024-03-05, 05.03.2024, 5/3/2024); dates written with
words or CJK characters (3 March, 3月5日) are language, and the model translates them.
Amounts are protected when they carry a currency symbol, an ISO 4217 code or a common
abbreviation (kr, zł, Kč); amounts written with a word (299元) are left to the model too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Only ASCII letters and digits glue to a span: CJK characters are \w but not a boundary to it.
_NOT_AFTER = r"(?<![A-Za-z0-9_@#+./-])"
_NOT_BEFORE = r"(?![A-Za-z0-9_])"
_NUMBER = r"\d{1,3}(?:[ \u00a0\u202f.,']\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CODES = (
    "USD|EUR|GBP|JPY|CNY|RMB|HKD|TWD|SEK|NOK|DKK|ISK|PLN|CZK|HUF|RON|BGN|TRY|RUB|UAH|INR|KRW|"
    "THB|VND|IDR|ILS|AED|SAR|CHF|CAD|AUD|NZD|SGD|MYR|BRL|MXN"
)
_SYMBOLS = "$€£¥₹₩₽₺₴₫฿₪"
_AFTER_ONLY = r"kr|zł|Kč|Ft|lei|лв|грн|руб"
_TRAILING = ".,;:!?)]}'\"…。，、；：！？）」』】"

_KINDS: tuple[tuple[str, str], ...] = (
    ("url", r"(?<![A-Za-z0-9@])(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]+"),
    (
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    ),
    (
        "date",
        _NOT_AFTER + r"(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?"
        r"|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2}))" + _NOT_BEFORE,
    ),
    (
        "phone",
        r"(?<![A-Za-z0-9_+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}"
        r"|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]?\d{3,4}|\d{2,4}[ .-]\d{3,4}[ .-]\d{3,4})" + _NOT_BEFORE,
    ),
    (
        "amount",
        rf"(?:[{_SYMBOLS}]\s?|(?<![A-Za-z])(?:{_CODES})\s?)(?:{_NUMBER})(?![\d])"
        rf"|(?<![\d.,])(?:{_NUMBER})\s?(?:[{_SYMBOLS}]|(?:{_CODES}|{_AFTER_ONLY})(?![A-Za-z]))",
    ),
    (
        "order",
        _NOT_AFTER + r"(?:#\d{3,}"
        r"|(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9_-]{3,}[A-Za-z0-9]"
        r"|\d{5,})" + _NOT_BEFORE,
    ),
)
_PATTERN = re.compile("|".join(f"(?P<{kind}>{regex})" for kind, regex in _KINDS))
_PREFIXES = ("ZX", "QX", "XYZ")  # the first one the text does not already contain


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    text: str


def find_spans(text: str) -> list[Span]:
    """The protected spans of ``text``, left to right, never overlapping."""
    spans = []
    for match in _PATTERN.finditer(text):
        kind = match.lastgroup or "order"
        value = match.group()
        if kind == "url":
            value = value.rstrip(_TRAILING)
        elif kind == "phone" and sum(c.isdigit() for c in value) < 8:
            continue
        spans.append(Span(match.start(), match.start() + len(value), kind, value))
    return spans


@dataclass(frozen=True)
class Masked:
    """A text with its protected spans replaced by surrogates ``{prefix}1`` ... in order."""

    text: str
    prefix: str
    originals: tuple[str, ...]

    def surrogate(self, index: int) -> str:
        return f"{self.prefix}{index + 1}"

    def parts(self) -> list[str]:
        """The masked text split around its surrogates: text, surrogate, text, ..."""
        if not self.originals:
            return [self.text]
        return re.split(f"({re.escape(self.prefix)}\\d+)", self.text)


def mask(text: str) -> Masked:
    """Replace every protected span of ``text`` by a surrogate the model copies through."""
    spans = find_spans(text)
    if not spans:
        return Masked(text, _PREFIXES[0], ())
    lowered = text.lower()
    prefix = next((p for p in _PREFIXES if p.lower() not in lowered), _PREFIXES[-1] + "Q")
    out, cursor = [], 0
    for index, span in enumerate(spans):
        out += [text[cursor : span.start], f"{prefix}{index + 1}"]
        cursor = span.end
    out.append(text[cursor:])
    return Masked("".join(out), prefix, tuple(s.text for s in spans))


def complete(masked: Masked, translation: str) -> bool:
    """True when ``translation`` holds every surrogate exactly once and no other."""
    if not masked.originals:
        return True
    found = re.findall(f"{re.escape(masked.prefix)}\\s?(\\d+)(?!\\d)", translation)
    return sorted(int(n) for n in found) == list(range(1, len(masked.originals) + 1))


def restore(masked: Masked, translation: str) -> str:
    """Put the original spans back in place of the surrogates (of a complete translation)."""
    if not masked.originals:
        return translation

    def original(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return masked.originals[index] if 0 <= index < len(masked.originals) else match.group()

    return re.sub(f"{re.escape(masked.prefix)}\\s?(\\d+)(?!\\d)", original, translation)
