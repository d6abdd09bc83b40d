"""Money as integer minor units plus an ISO 4217 code. Never floats."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents that differ from 2, for the markets of the 35 languages.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "ISK": 0, "CLP": 0, "KWD": 3, "BHD": 3}
CURRENCIES = frozenset(
    [
        "EUR",
        "USD",
        "GBP",
        "SEK",
        "NOK",
        "DKK",
        "CHF",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "TRY",
        "RUB",
        "UAH",
        "AED",
        "SAR",
        "EGP",
        "ILS",
        "JPY",
        "KRW",
        "CNY",
        "INR",
        "THB",
        "VND",
        "IDR",
        "BRL",
        "MXN",
        "ARS",
        "CAD",
        "AUD",
    ]
)
_CODE = re.compile(r"^[A-Z]{3}$")


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def check_currency(currency: str) -> str:
    code = currency.strip().upper()
    if not _CODE.match(code) or code not in CURRENCIES:
        raise ValueError(f"unknown currency code {currency!r}")
    return code


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """``"129.90", "SEK" -> 12990``. Rejects amounts with more decimals than the currency has."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a number") from None
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows")
    return int(scaled)


def to_major(minor: int, currency: str) -> str:
    """``12990, "SEK" -> "129.90"`` (a plain decimal string, for machines)."""
    exp = exponent(currency)
    return str(Decimal(minor).scaleb(-exp).quantize(Decimal(1).scaleb(-exp)))


def format_local(minor: int, currency: str, locale: str) -> str:
    """As people of ``locale`` write it (``sv_SE``: ``1 299,00 kr``), using CLDR data via Babel."""
    from babel.numbers import format_currency

    return format_currency(Decimal(to_major(minor, currency)), currency, locale=locale)


def display(minor: int, currency: str) -> str:
    """A neutral human form, ``129.90 SEK``; locale-aware formatting belongs to the UI."""
    return f"{to_major(minor, currency)} {currency}"
