"""ISO 4217 table, currency normalisation, and the single ROUND_HALF_UP rounding rule."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, Inexact, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollway.pricing.currency import (
    MINOR_UNITS,
    UnknownCurrencyError,
    format_amount,
    minor_unit,
    normalize_currency,
    round_amount,
)


@pytest.mark.parametrize(
    ("code", "places"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("CLP", 0),
        ("ISK", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("IQD", 3),
        ("LYD", 3),
        ("CLF", 4),
        ("UYW", 4),
        ("SLE", 2),
        ("VED", 2),
        ("XCG", 2),
        ("ZWG", 2),
    ],
)
def test_minor_unit_matches_iso_4217(code: str, places: int) -> None:
    assert minor_unit(code) == places
    assert MINOR_UNITS[code] == places


def test_non_two_decimal_currencies_are_exactly_the_iso_ones() -> None:
    # Guards the whole table: a currency moved to the wrong exponent would misbill by 10x-100x.
    by_places = {p: {c for c, v in MINOR_UNITS.items() if v == p} for p in (0, 3, 4)}
    assert by_places[0] == {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
    assert by_places[3] == {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
    assert by_places[4] == {"CLF", "UYW"}
    assert set(MINOR_UNITS.values()) == {0, 2, 3, 4}


def test_table_keys_are_upper_case_three_letter_codes() -> None:
    assert len(MINOR_UNITS) >= 160
    for code in MINOR_UNITS:
        assert len(code) == 3 and code.isascii() and code.isalpha() and code.isupper(), code


@pytest.mark.parametrize("code", ["HRK", "CUC", "VEF", "MRO", "LTL", "XAU", "XDR", "XTS", "XXX"])
def test_withdrawn_and_unit_less_codes_are_unknown(code: str) -> None:
    with pytest.raises(UnknownCurrencyError):
        normalize_currency(code)


@pytest.mark.parametrize(("given_code", "expected"), [("usd", "USD"), ("Eur", "EUR"), ("JPY", "JPY")])
def test_normalize_currency_is_case_insensitive(given_code: str, expected: str) -> None:
    assert normalize_currency(given_code) == expected


@pytest.mark.parametrize("code", ["", "US", "USDX", "ABC", " USD", "usd ", "u\u017fd", "\uff35\uff33\uff24"])
def test_normalize_currency_rejects_unknown_codes(code: str) -> None:
    # "u\u017fd".upper() == "USD" (long s upper-cases to S); look-alikes must not pass as USD.
    with pytest.raises(UnknownCurrencyError) as info:
        normalize_currency(code)
    assert isinstance(info.value, ValueError)
    assert info.value.code == code


def test_normalize_currency_rejects_non_strings() -> None:
    with pytest.raises(UnknownCurrencyError):
        normalize_currency(840)  # type: ignore[arg-type]


def test_minor_unit_of_unknown_code_raises() -> None:
    with pytest.raises(UnknownCurrencyError):
        minor_unit("ZZZ")


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        ("1.005", "USD", "1.01"),  # half-up; banker's rounding would give 1.00
        ("1.015", "USD", "1.02"),
        ("0.0004", "USD", "0.00"),
        ("0.005", "USD", "0.01"),
        ("0.00499999999", "USD", "0.00"),
        ("1", "USD", "1.00"),
        ("2.5", "JPY", "3"),  # half-even would give 2
        ("0.49", "JPY", "0"),
        ("1234", "JPY", "1234"),
        ("0.0005", "KWD", "0.001"),
        ("0.0004", "KWD", "0.000"),
        ("1.23456", "CLF", "1.2346"),
        ("-1.005", "USD", "-1.01"),  # ties go away from zero for credits too
    ],
)
def test_round_amount_half_up(amount: str, code: str, expected: str) -> None:
    result = round_amount(Decimal(amount), code)
    assert result == Decimal(expected)
    assert str(result) == expected  # same value *and* exactly the minor-unit places


def test_round_amount_has_no_negative_zero() -> None:
    result = round_amount(Decimal("-0.004"), "USD")
    assert str(result) == "0.00"
    assert not result.is_signed()


def test_round_amount_rejects_float_and_non_finite() -> None:
    with pytest.raises(TypeError):
        round_amount(0.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        round_amount(1, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        round_amount(Decimal("NaN"), "USD")
    with pytest.raises(ValueError):
        round_amount(Decimal("Infinity"), "USD")
    with pytest.raises(UnknownCurrencyError):
        round_amount(Decimal(1), "XYZ")


def test_round_amount_ignores_the_global_decimal_context() -> None:
    big = Decimal("123456789012345678901234567890.125")
    with localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = ROUND_DOWN
        ctx.traps[Inexact] = True
        result = round_amount(big, "USD")
    assert str(result) == "123456789012345678901234567890.13"


amounts = st.decimals(
    min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=8, allow_nan=False, allow_infinity=False
)
codes = st.sampled_from(sorted(MINOR_UNITS))


@given(amount=amounts, code=codes)
def test_round_amount_is_nearest_minor_unit_with_exact_places(amount: Decimal, code: str) -> None:
    places = MINOR_UNITS[code]
    result = round_amount(amount, code)
    assert result.as_tuple().exponent == -places
    half = Decimal(1).scaleb(-places) / 2
    assert abs(result - amount) <= half
    # A tie must have moved away from zero (half-up), never towards it.
    if abs(result - amount) == half:
        assert abs(result) > abs(amount)
    assert round_amount(result, code) == result  # rounding an already rounded amount is a no-op


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        ("1", "USD", "1.00"),
        ("1.0000", "USD", "1.00"),
        ("100", "JPY", "100"),
        ("1E+3", "JPY", "1000"),
        ("1", "KWD", "1.000"),
        ("0", "CLF", "0.0000"),
        ("123456789012345678.90", "EUR", "123456789012345678.90"),
    ],
)
def test_format_amount(amount: str, code: str, expected: str) -> None:
    assert format_amount(Decimal(amount), code) == expected


def test_format_amount_refuses_to_round_hidden_precision() -> None:
    # An unrounded unit price must not be displayed as "0.00".
    with pytest.raises(ValueError, match="round_amount"):
        format_amount(Decimal("0.0004"), "USD")
    with pytest.raises(ValueError):
        format_amount(Decimal("0.5"), "JPY")
    with pytest.raises(TypeError):
        format_amount(1.0, "USD")  # type: ignore[arg-type]
