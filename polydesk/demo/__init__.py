"""A believable buy-now-pay-later shop, generated deterministically from a seed.

Customers are spread over the 35 languages, each with orders on installment plans; every ticket
is a message that a person wrote in the customer's own language (``texts/<code>.json``), filled
in with that customer's order number, amount in their currency and shop. The ticket documents
are the same JSONL that ``polydesk import tickets`` reads, so ``init --demo`` goes through the
real import path. The texts' intent and tone are kept apart as labels for evaluation: they are
never written to the tickets, which arrive ``new`` and untriaged as real ones do.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from .. import money, timeutil
from ..languages import CODES

Row = dict[str, Any]
_PLACEHOLDER = re.compile(r"\{(order|amount|merchant|name)\}")

# language -> markets as (country, currency, Babel locale)
MARKETS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "en": (("GB", "GBP", "en_GB"), ("US", "USD", "en_US"), ("IE", "EUR", "en_IE")),
    "de": (("DE", "EUR", "de_DE"), ("AT", "EUR", "de_AT"), ("CH", "CHF", "de_CH")),
    "sv": (("SE", "SEK", "sv_SE"),),
    "nb": (("NO", "NOK", "nb_NO"),),
    "da": (("DK", "DKK", "da_DK"),),
    "fi": (("FI", "EUR", "fi_FI"),),
    "nl": (("NL", "EUR", "nl_NL"), ("BE", "EUR", "nl_BE")),
    "fr": (("FR", "EUR", "fr_FR"), ("BE", "EUR", "fr_BE"), ("CH", "CHF", "fr_CH")),
    "it": (("IT", "EUR", "it_IT"),),
    "es": (("ES", "EUR", "es_ES"), ("MX", "MXN", "es_MX")),
    "pt": (("PT", "EUR", "pt_PT"), ("BR", "BRL", "pt_BR")),
    "pl": (("PL", "PLN", "pl_PL"),),
    "cs": (("CZ", "CZK", "cs_CZ"),),
    "sk": (("SK", "EUR", "sk_SK"),),
    "hu": (("HU", "HUF", "hu_HU"),),
    "ro": (("RO", "RON", "ro_RO"),),
    "el": (("GR", "EUR", "el_GR"),),
    "bg": (("BG", "EUR", "bg_BG"),),
    "hr": (("HR", "EUR", "hr_HR"),),
    "sl": (("SI", "EUR", "sl_SI"),),
    "et": (("EE", "EUR", "et_EE"),),
    "lv": (("LV", "EUR", "lv_LV"),),
    "lt": (("LT", "EUR", "lt_LT"),),
    "tr": (("TR", "TRY", "tr_TR"),),
    "ru": (("EE", "EUR", "ru"), ("LV", "EUR", "ru"), ("DE", "EUR", "ru")),
    "uk": (("UA", "UAH", "uk_UA"), ("PL", "PLN", "uk_UA")),
    "ar": (("AE", "AED", "ar_AE"), ("SA", "SAR", "ar_SA")),
    "he": (("IL", "ILS", "he_IL"),),
    "ja": (("JP", "JPY", "ja_JP"),),
    "ko": (("KR", "KRW", "ko_KR"),),
    "zh": (("CN", "CNY", "zh_Hans_CN"),),
    "hi": (("IN", "INR", "hi_IN"),),
    "th": (("TH", "THB", "th_TH"),),
    "vi": (("VN", "VND", "vi_VN"),),
    "id": (("ID", "IDR", "id_ID"),),
}
# Rough units per euro, so a 60 EUR jacket is about 690 SEK or 9,600 JPY.
PER_EURO = {
    "EUR": 1,
    "GBP": 0.85,
    "USD": 1.08,
    "CHF": 0.95,
    "SEK": 11.5,
    "NOK": 11.7,
    "DKK": 7.46,
    "PLN": 4.3,
    "CZK": 25,
    "HUF": 395,
    "RON": 5,
    "TRY": 37,
    "UAH": 45,
    "AED": 4,
    "SAR": 4,
    "ILS": 4,
    "JPY": 160,
    "KRW": 1450,
    "CNY": 7.8,
    "INR": 90,
    "THB": 38,
    "VND": 27000,
    "IDR": 17000,
    "MXN": 19,
    "BRL": 5.9,
}
MERCHANTS = (
    "Nordstil",
    "Casa Verde",
    "UrbanKick",
    "TechNest",
    "Bloom & Co",
    "Lumen Home",
    "Pixel Parade",
    "Velo Depot",
    "Kettle & Fork",
    "Atlas Outdoor",
    "Mira Beauty",
    "Sora Audio",
    "Little Oak Kids",
    "Fjell Sport",
    "Studio Lino",
    "Gadget Harbor",
)
PRODUCTS = (
    ("Rain jacket Storm", 59),
    ("Sneakers Aero 42", 89),
    ("Wireless earbuds X2", 129),
    ("Sofa Lund 3-seat", 749),
    ("Coffee machine Barista One", 299),
    ("Winter boots Polar", 119),
    ("Kids bike 16in", 189),
    ("Phone Nova 5 128GB", 549),
    ("Dress Linnea", 79),
    ("Robot vacuum R7", 349),
    ("Laptop Flex 14", 899),
    ("Stroller Glide", 429),
    ("Hiking backpack 40L", 99),
    ("Skincare set Glow", 45),
    ("Office chair Ergo", 259),
    ("Smartwatch Pulse", 199),
    ("Bed linen set", 65),
    ("Gaming headset Z", 89),
)
CHANNELS = ("email",) * 10 + ("chat",) * 7 + ("web",) * 2 + ("social",)


@dataclass(frozen=True)
class LanguageTexts:
    code: str
    given_names: tuple[tuple[str, ...], ...]  # (native, ascii, gender f/m/x)
    family_names: tuple[tuple[str, ...], ...]  # (native, ascii[, feminine native, ascii])
    tickets: tuple[Row, ...]
    followups: tuple[Row, ...]


@cache
def texts(code: str) -> LanguageTexts:
    """The hand-written ticket texts and names of one language."""
    raw = resources.files(__package__).joinpath("texts", f"{code}.json").read_text("utf-8")
    data = json.loads(raw)
    return LanguageTexts(
        code,
        tuple(tuple(p) for p in data["given_names"]),
        tuple(tuple(p) for p in data["family_names"]),
        tuple(data["tickets"]),
        tuple(data["followups"]),
    )


@dataclass
class Demo:
    """Everything ``init --demo`` stores, plus the labels kept for evaluation."""

    agents: list[Row]
    tickets: list[Row]
    labels: dict[str, Row] = field(default_factory=dict)


def agents() -> list[Row]:
    """A small gig team whose language skills cover all 35 languages."""
    team = [
        ("ana", "agent", ["sv", "en", "es"], 100_000, "en"),
        ("jorge", "agent", ["es", "pt", "en"], 50_000, "es"),
        ("mei", "agent", ["zh", "ja", "en"], 50_000, "zh"),
        ("olga", "senior", ["ru", "uk", "bg", "pl", "en"], 200_000, "ru"),
        ("karim", "agent", ["ar", "fr", "en"], 50_000, "ar"),
        ("noa", "agent", ["he", "en", "de"], 50_000, "he"),
        ("priya", "agent", ["hi", "en", "th"], 50_000, "hi"),
        ("minh", "agent", ["vi", "id", "ko", "en"], 50_000, "vi"),
        ("eva", "senior", ["de", "nl", "da", "nb", "sv", "fi", "et"], 200_000, "de"),
        ("tomas", "agent", ["cs", "sk", "hu", "sl", "hr", "en"], 50_000, "cs"),
        ("giulia", "agent", ["it", "ro", "el", "tr", "en"], 50_000, "it"),
        ("laura", "specialist", ["en", "lv", "lt", "fr", "de"], 500_000, "en"),
        ("admin", "admin", ["en"], 1_000_000, "en"),
    ]
    return [
        {
            "name": n,
            "role": r,
            "languages": langs,
            "refund_limit_minor": limit,
            "refund_currency": "EUR",
            "ui_language": ui,
        }
        for n, r, langs, limit, ui in team
    ]


def generate(
    *, seed: int = 2024, customers_per_language: int = 16, anchor: datetime | None = None
) -> Demo:
    """Build the demo shop. Same seed and anchor date, same output."""
    rng = random.Random(seed)
    end = anchor or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    demo = Demo(agents=agents(), tickets=[])
    serial = _Serial()
    for code in CODES:
        lang = texts(code)
        people = [_customer(rng, lang, serial, end) for _ in range(customers_per_language)]
        for n, text in enumerate(lang.tickets):
            person = people[n % len(people)] if n < len(people) else rng.choice(people)
            doc = _ticket(rng, lang, text, person, serial, end)
            demo.tickets.append(doc)
            demo.labels[doc["id"]] = {
                "language": code,
                "intent": text["intent"],
                "tone": text["tone"],
            }
    demo.tickets.sort(key=lambda t: (t["created_at"], t["id"]))
    return demo


class _Serial:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def next(self, prefix: str, start: int) -> str:
        self.counts[prefix] = self.counts.get(prefix, start) + 1
        return f"{prefix}{self.counts[prefix]}"


def _customer(rng: random.Random, lang: LanguageTexts, serial: _Serial, end: datetime) -> Row:
    given, family = rng.choice(lang.given_names), rng.choice(lang.family_names)
    if given[2] == "f" and len(family) == 4:  # Nováková, Ivanova, Kowalska: the woman's form
        family = family[2:]
    country, currency, locale = rng.choice(MARKETS[lang.code])
    native = (
        f"{family[0]}{given[0]}" if lang.code in ("ja", "ko", "zh") else f"{given[0]} {family[0]}"
    )
    handle = f"{given[1]}.{family[1]}".lower().replace(" ", "")
    person = {
        "id": serial.next("C-", 10_000),
        "name": native,
        "email": f"{handle}{rng.randint(1, 99)}@example.{country.lower()}",
        "phone": f"+{rng.randint(30, 99)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}",
        "language": lang.code,
        "country": country,
        "vip": rng.random() < 0.08,
    }
    orders = [_order(rng, person, currency, serial, end) for _ in range(rng.randint(1, 3))]
    return {"doc": person, "given": given[0], "orders": orders, "locale": locale}


def _order(rng: random.Random, person: Row, currency: str, serial: _Serial, end: datetime) -> Row:
    product, euros = rng.choice(PRODUCTS)
    quantity = 2 if euros < 60 and rng.random() < 0.3 else 1
    amount = _price(euros * quantity * rng.uniform(0.85, 1.2), currency)
    placed = end - timedelta(days=rng.randint(3, 75), hours=rng.randint(0, 23))
    order: Row = {
        "id": serial.next("", 88_000),
        "merchant": rng.choice(MERCHANTS),
        "items": [{"name": product, "quantity": quantity}],
        "amount_minor": amount,
        "currency": currency,
        "status": "placed",
        "placed_at": timeutil.iso(placed),
    }
    _ship(rng, order, placed, end)
    order["installments"] = _plan(rng, amount, currency, placed, end)
    return order


def _price(value: float, currency: str) -> int:
    local = value * PER_EURO[currency]
    exp = money.exponent(currency)
    if local >= 1000:
        rounded = Decimal(round(local / 10) * 10 - (1 if exp == 0 else 0))
    else:
        rounded = Decimal(int(local)) + (Decimal("0.90") if exp else 0)
    return money.to_minor(rounded, currency)


def _ship(rng: random.Random, order: Row, placed: datetime, end: datetime) -> None:
    shipped = placed + timedelta(days=rng.randint(1, 4), hours=rng.randint(1, 12))
    if shipped < end and rng.random() < 0.85:
        order.update(status="shipped", shipped_at=timeutil.iso(shipped))
        order["tracking"] = f"PD{rng.randint(10**9, 10**10 - 1)}"
        delivered = shipped + timedelta(days=rng.randint(1, 6))
        if delivered < end and rng.random() < 0.7:
            order.update(status="delivered", delivered_at=timeutil.iso(delivered))


def _plan(
    rng: random.Random, amount: int, currency: str, placed: datetime, end: datetime
) -> list[Row]:
    """Pay in 4 every two weeks, or in 3 monthly parts; the first part is paid at checkout."""
    parts, step = rng.choice([(4, 14), (3, 30)])
    base, rest = divmod(amount, parts)
    rows = []
    for seq in range(1, parts + 1):
        due = placed + timedelta(days=step * (seq - 1))
        paid = seq == 1 or (due < end and rng.random() < 0.85)
        status = "paid" if paid else ("overdue" if due < end else "scheduled")
        rows.append(
            {
                "seq": seq,
                "due_date": timeutil.iso(due.replace(hour=0, minute=0, second=0)),
                "amount_minor": base + (rest if seq == 1 else 0),
                "status": status,
                "paid_at": timeutil.iso(due) if paid else None,
            }
        )
    return rows


def _ticket(
    rng: random.Random,
    lang: LanguageTexts,
    text: Row,
    person: Row,
    serial: _Serial,
    end: datetime,
) -> Row:
    order = rng.choice(person["orders"])
    placed = timeutil.parse(order["placed_at"])
    created = placed + (end - placed) * rng.uniform(0.3, 0.98)
    values = {
        "order": order["id"],
        "amount": money.format_local(order["amount_minor"], order["currency"], person["locale"]),
        "merchant": order["merchant"],
        "name": person["given"],
    }
    messages = [_message(text["body"], values, person, lang.code, created)]
    if rng.random() < 0.12:
        later = created + timedelta(hours=rng.randint(5, 60))
        if later < end:
            messages.append(
                _message(rng.choice(lang.followups)["body"], values, person, lang.code, later)
            )
    return {
        "id": serial.next("demo-", 100_000),
        "channel": rng.choice(CHANNELS),
        "subject": _fill(text["subject"], values),
        "language": lang.code,
        "created_at": timeutil.iso(created),
        "customer": person["doc"],
        "order": order,
        "messages": messages,
    }


def _message(body: str, values: Row, person: Row, code: str, at: datetime) -> Row:
    return {
        "direction": "in",
        "author": person["doc"]["name"],
        "language": code,
        "body": _fill(body, values),
        "created_at": timeutil.iso(at),
    }


def _fill(text: str, values: Row) -> str:
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)
