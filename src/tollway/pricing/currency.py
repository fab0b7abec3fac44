"""ISO 4217 currencies and their minor units, and the one rounding rule for money.

Every amount Tollway charges is rounded to the currency's minor unit (cents for USD, whole yen
for JPY, fils for KWD) exactly once, with ROUND_HALF_UP, by :func:`round_amount`. Keeping that
rule here, in one place, is what lets invoices, ledgers and payment gateways agree to the cent.

The table is ISO 4217 "List One" (current currencies and funds) as of 2025 (after XCG, ZWG, SLE).
Codes whose minor unit ISO gives as "N.A." (precious metals XAU/XAG/XPT/XPD, bond-market units
XBA-XBD, XDR, XSU, XUA, the testing code XTS and "no currency" XXX) are left out on purpose: an
amount in them cannot be rounded to a minor unit, so nothing can be invoiced in them.
Withdrawn codes (e.g. HRK, CUC, ANG, SLL, ZWL, VEF) are unknown, so no new plan can use them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Final

__all__ = [
    "MINOR_UNITS",
    "UnknownCurrencyError",
    "format_amount",
    "minor_unit",
    "normalize_currency",
    "round_amount",
]

# Alphabetic code -> number of decimal places of the minor unit (ISO 4217 List One).
MINOR_UNITS: Final[dict[str, int]] = {
    "AED": 2,  # UAE Dirham
    "AFN": 2,  # Afghani
    "ALL": 2,  # Lek
    "AMD": 2,  # Armenian Dram
    "AOA": 2,  # Kwanza
    "ARS": 2,  # Argentine Peso
    "AUD": 2,  # Australian Dollar
    "AWG": 2,  # Aruban Florin
    "AZN": 2,  # Azerbaijan Manat
    "BAM": 2,  # Convertible Mark
    "BBD": 2,  # Barbados Dollar
    "BDT": 2,  # Taka
    "BGN": 2,  # Bulgarian Lev
    "BHD": 3,  # Bahraini Dinar
    "BIF": 0,  # Burundi Franc
    "BMD": 2,  # Bermudian Dollar
    "BND": 2,  # Brunei Dollar
    "BOB": 2,  # Boliviano
    "BOV": 2,  # Mvdol (fund)
    "BRL": 2,  # Brazilian Real
    "BSD": 2,  # Bahamian Dollar
    "BTN": 2,  # Ngultrum
    "BWP": 2,  # Pula
    "BYN": 2,  # Belarusian Ruble
    "BZD": 2,  # Belize Dollar
    "CAD": 2,  # Canadian Dollar
    "CDF": 2,  # Congolese Franc
    "CHE": 2,  # WIR Euro (fund)
    "CHF": 2,  # Swiss Franc
    "CHW": 2,  # WIR Franc (fund)
    "CLF": 4,  # Unidad de Fomento (fund)
    "CLP": 0,  # Chilean Peso
    "CNY": 2,  # Yuan Renminbi
    "COP": 2,  # Colombian Peso
    "COU": 2,  # Unidad de Valor Real (fund)
    "CRC": 2,  # Costa Rican Colon
    "CUP": 2,  # Cuban Peso
    "CVE": 2,  # Cabo Verde Escudo
    "CZK": 2,  # Czech Koruna
    "DJF": 0,  # Djibouti Franc
    "DKK": 2,  # Danish Krone
    "DOP": 2,  # Dominican Peso
    "DZD": 2,  # Algerian Dinar
    "EGP": 2,  # Egyptian Pound
    "ERN": 2,  # Nakfa
    "ETB": 2,  # Ethiopian Birr
    "EUR": 2,  # Euro
    "FJD": 2,  # Fiji Dollar
    "FKP": 2,  # Falkland Islands Pound
    "GBP": 2,  # Pound Sterling
    "GEL": 2,  # Lari
    "GHS": 2,  # Ghana Cedi
    "GIP": 2,  # Gibraltar Pound
    "GMD": 2,  # Dalasi
    "GNF": 0,  # Guinean Franc
    "GTQ": 2,  # Quetzal
    "GYD": 2,  # Guyana Dollar
    "HKD": 2,  # Hong Kong Dollar
    "HNL": 2,  # Lempira
    "HTG": 2,  # Gourde
    "HUF": 2,  # Forint
    "IDR": 2,  # Rupiah
    "ILS": 2,  # New Israeli Sheqel
    "INR": 2,  # Indian Rupee
    "IQD": 3,  # Iraqi Dinar
    "IRR": 2,  # Iranian Rial
    "ISK": 0,  # Iceland Krona
    "JMD": 2,  # Jamaican Dollar
    "JOD": 3,  # Jordanian Dinar
    "JPY": 0,  # Yen
    "KES": 2,  # Kenyan Shilling
    "KGS": 2,  # Som
    "KHR": 2,  # Riel
    "KMF": 0,  # Comorian Franc
    "KPW": 2,  # North Korean Won
    "KRW": 0,  # Won
    "KWD": 3,  # Kuwaiti Dinar
    "KYD": 2,  # Cayman Islands Dollar
    "KZT": 2,  # Tenge
    "LAK": 2,  # Lao Kip
    "LBP": 2,  # Lebanese Pound
    "LKR": 2,  # Sri Lanka Rupee
    "LRD": 2,  # Liberian Dollar
    "LSL": 2,  # Loti
    "LYD": 3,  # Libyan Dinar
    "MAD": 2,  # Moroccan Dirham
    "MDL": 2,  # Moldovan Leu
    "MGA": 2,  # Malagasy Ariary
    "MKD": 2,  # Denar
    "MMK": 2,  # Kyat
    "MNT": 2,  # Tugrik
    "MOP": 2,  # Pataca
    "MRU": 2,  # Ouguiya
    "MUR": 2,  # Mauritius Rupee
    "MVR": 2,  # Rufiyaa
    "MWK": 2,  # Malawi Kwacha
    "MXN": 2,  # Mexican Peso
    "MXV": 2,  # Mexican Unidad de Inversion (fund)
    "MYR": 2,  # Malaysian Ringgit
    "MZN": 2,  # Mozambique Metical
    "NAD": 2,  # Namibia Dollar
    "NGN": 2,  # Naira
    "NIO": 2,  # Cordoba Oro
    "NOK": 2,  # Norwegian Krone
    "NPR": 2,  # Nepalese Rupee
    "NZD": 2,  # New Zealand Dollar
    "OMR": 3,  # Rial Omani
    "PAB": 2,  # Balboa
    "PEN": 2,  # Sol
    "PGK": 2,  # Kina
    "PHP": 2,  # Philippine Peso
    "PKR": 2,  # Pakistan Rupee
    "PLN": 2,  # Zloty
    "PYG": 0,  # Guarani
    "QAR": 2,  # Qatari Rial
    "RON": 2,  # Romanian Leu
    "RSD": 2,  # Serbian Dinar
    "RUB": 2,  # Russian Ruble
    "RWF": 0,  # Rwanda Franc
    "SAR": 2,  # Saudi Riyal
    "SBD": 2,  # Solomon Islands Dollar
    "SCR": 2,  # Seychelles Rupee
    "SDG": 2,  # Sudanese Pound
    "SEK": 2,  # Swedish Krona
    "SGD": 2,  # Singapore Dollar
    "SHP": 2,  # Saint Helena Pound
    "SLE": 2,  # Leone
    "SOS": 2,  # Somali Shilling
    "SRD": 2,  # Surinam Dollar
    "SSP": 2,  # South Sudanese Pound
    "STN": 2,  # Dobra
    "SVC": 2,  # El Salvador Colon
    "SYP": 2,  # Syrian Pound
    "SZL": 2,  # Lilangeni
    "THB": 2,  # Baht
    "TJS": 2,  # Somoni
    "TMT": 2,  # Turkmenistan New Manat
    "TND": 3,  # Tunisian Dinar
    "TOP": 2,  # Pa'anga
    "TRY": 2,  # Turkish Lira
    "TTD": 2,  # Trinidad and Tobago Dollar
    "TWD": 2,  # New Taiwan Dollar
    "TZS": 2,  # Tanzanian Shilling
    "UAH": 2,  # Hryvnia
    "UGX": 0,  # Uganda Shilling
    "USD": 2,  # US Dollar
    "USN": 2,  # US Dollar (Next day) (fund)
    "UYI": 0,  # Uruguay Peso en Unidades Indexadas (fund)
    "UYU": 2,  # Peso Uruguayo
    "UYW": 4,  # Unidad Previsional (fund)
    "UZS": 2,  # Uzbekistan Sum
    "VED": 2,  # Bolivar Digital
    "VES": 2,  # Bolivar Soberano
    "VND": 0,  # Dong
    "VUV": 0,  # Vatu
    "WST": 2,  # Tala
    "XAF": 0,  # CFA Franc BEAC
    "XCD": 2,  # East Caribbean Dollar
    "XCG": 2,  # Caribbean Guilder
    "XOF": 0,  # CFA Franc BCEAO
    "XPF": 0,  # CFP Franc
    "YER": 2,  # Yemeni Rial
    "ZAR": 2,  # Rand
    "ZMW": 2,  # Zambian Kwacha
    "ZWG": 2,  # Zimbabwe Gold
}


class UnknownCurrencyError(ValueError):
    """The code is not an active ISO 4217 currency with a minor unit."""

    def __init__(self, code: object) -> None:
        super().__init__(f"unknown currency code: {code!r}")
        self.code = code


def normalize_currency(code: str) -> str:
    """Return the upper-case ISO 4217 code for ``code`` (case-insensitive).

    Raises :class:`UnknownCurrencyError` for anything that is not in :data:`MINOR_UNITS`,
    including non-strings, so callers can treat every bad currency as one error.
    """
    # isascii() first: str.upper() maps some non-ASCII letters onto ASCII ones ("ß" -> "SS").
    if not isinstance(code, str) or not code.isascii():
        raise UnknownCurrencyError(code)
    upper = code.upper()
    if upper not in MINOR_UNITS:
        raise UnknownCurrencyError(code)
    return upper


def minor_unit(code: str) -> int:
    """Number of decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    return MINOR_UNITS[normalize_currency(code)]


def _check_finite_decimal(amount: object) -> Decimal:
    # bool/int/float are refused: money must arrive as Decimal so no binary-float error
    # can sneak in upstream of the single rounding step.
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount}")
    return amount


def _quantum(places: int) -> Decimal:
    return Decimal((0, (1,), -places))


def round_amount(amount: Decimal, code: str) -> Decimal:
    """Round ``amount`` once to the currency's minor unit with ROUND_HALF_UP.

    The result has exactly that many decimal places (``Decimal("1.00")`` for USD,
    ``Decimal("1")`` for JPY). Ties go away from zero, so the rule is symmetric for credits.
    The caller's decimal context is never consulted: precision is sized to the amount.
    """
    value = _check_finite_decimal(amount)
    places = minor_unit(code)
    # Enough digits for every integer digit plus the minor-unit places, so quantize never fails.
    prec = max(28, value.adjusted() + places + 2)
    with localcontext(Context(prec=prec, rounding=ROUND_HALF_UP)):
        rounded = value.quantize(_quantum(places))
    # -0.004 USD rounds to "-0.00"; money has no negative zero.
    return rounded.copy_abs() if rounded.is_zero() else rounded


def format_amount(amount: Decimal, code: str) -> str:
    """The plain decimal string of ``amount`` with exactly the minor-unit places.

    ``format_amount(Decimal("1"), "USD") == "1.00"``, ``"100"`` for JPY, ``"1.000"`` for KWD.
    The amount must already be representable in the minor unit (round it with
    :func:`round_amount` first): formatting never rounds, so an unrounded unit price such as
    0.0004 USD raises ValueError instead of quietly showing "0.00".
    """
    value = _check_finite_decimal(amount)
    rounded = round_amount(value, code)
    if rounded != value:
        raise ValueError(
            f"{value} has more decimal places than {normalize_currency(code)} allows; "
            "round it with round_amount() first"
        )
    return format(rounded, "f")
