"""Amounts in the currency's minor unit, decimal strings and Stripe-style descriptions."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import param_error

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)

# Currencies the fake accepts (ISO 4217, lowercase); Stripe's own list is longer.
CURRENCIES = (
    frozenset(
        [
            "usd",
            "aed",
            "aud",
            "bgn",
            "brl",
            "cad",
            "chf",
            "cny",
            "czk",
            "dkk",
            "eur",
            "gbp",
            "hkd",
            "huf",
            "idr",
            "ils",
            "inr",
            "isk",
            "jpy",
            "krw",
            "mxn",
            "myr",
            "nok",
            "nzd",
            "php",
            "pln",
            "ron",
            "sek",
            "sgd",
            "thb",
            "try",
            "twd",
            "zar",
        ]
    )
    | ZERO_DECIMAL
)

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "aud": "A$", "cad": "CA$", "inr": "₹"}


def parse_decimal(value: str, param: str, *, places: int = 12) -> Decimal:
    """A non-negative decimal string with at most ``places`` decimal places."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise param_error(f"Invalid decimal: {value}", param=param) from None
    if not number.is_finite() or number < 0:
        raise param_error(f"Invalid decimal: {value}", param=param)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise param_error(
            f"Invalid decimal: {value}. The value may have at most {places} decimal places.", param=param
        )
    return number


def decimal_string(number: Decimal) -> str:
    """Stripe's canonical decimal string: no exponent, no trailing zeros (``"2000"``, ``"0.04"``)."""
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def round_amount(number: Decimal) -> int:
    """A line amount in the minor unit, rounded half up to an integer."""
    return int(number.to_integral_value(rounding=ROUND_HALF_UP))


def format_money(minor: Decimal, currency: str) -> str:
    """``$20.00``, ``$0.0004``: the unit price as Stripe prints it in line descriptions."""
    major = minor if currency in ZERO_DECIMAL else minor / 100
    text = format(major.normalize(), "f")
    if currency not in ZERO_DECIMAL:
        whole, _, fraction = text.partition(".")
        text = f"{whole}.{fraction.ljust(2, '0')}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"
