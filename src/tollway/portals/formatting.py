"""Template filters: money, dates and counts as a person reads them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tollway.pricing.currency import UnknownCurrencyError, minor_unit


def price(value: Any, currency: str | None = None) -> str:
    """An exact decimal price, without trailing zeros beyond two places ("0.0004 USD", "10.00 USD")."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    frac = frac.ljust(2, "0") if frac or amount == amount.to_integral_value() else frac
    shown = f"{whole}.{frac}" if frac else whole
    return f"{shown} {currency.upper()}" if currency else shown


def when(value: Any) -> str:
    """UTC date and time to the minute; epoch milliseconds are accepted as WSO2's API sends them."""
    if value is None or value == "":
        return ""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        value = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    value = _iso(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        shown: str = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return shown
    return str(value)


def _iso(value: Any) -> Any:
    """A REST body's ISO 8601 date-time string ("2030-01-01T00:00:00Z") as a datetime; else as it is."""
    if isinstance(value, str) and "T" in value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def day(value: Any) -> str:
    value = _iso(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d")
    return str(value or "")


def count(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


UNLIMITED = 2**31 - 1  # WSO2's "Unlimited" plan's request count


def plan_price(plan: dict[str, Any]) -> str:
    """One line describing what a plan costs, as the plan list and the catalog show it."""
    monetization = plan.get("monetization") or {}
    if plan.get("billingPlan") != "COMMERCIAL" or not monetization:
        return "Free"
    props = monetization.get("properties") or {}
    currency = props.get("currencyType") or ""
    cycle = props.get("billingCycle") or "month"
    included = int(props.get("includedRequests") or 0)
    if monetization.get("monetizationPlan") == "FixedRate":
        text = f"{price(props.get('fixedPrice'), currency)} per {cycle}"
    elif monetization.get("tiers"):
        text = f"Tiered per request ({monetization.get('tierMode') or 'graduated'}), {currency.upper()}"
    else:
        text = f"{price(props.get('pricePerRequest'), currency)} per request, billed each {cycle}"
    if included:
        text += f"; first {count(included)} requests included"
    return text


def plan_quota(plan: dict[str, Any]) -> str:
    limit = plan.get("defaultLimit") or {}
    if limit.get("type") == "BandwidthLimit":
        b = limit.get("bandwidth") or {}
        return f"{b.get('dataAmount')} {b.get('dataUnit')} per {b.get('unitTime')} {b.get('timeUnit')}"
    c = limit.get("requestCount") or {}
    requests = int(c.get("requestCount") or 0)
    if not requests or requests >= UNLIMITED:
        return "Unlimited"
    unit_time = int(c.get("unitTime") or 1)
    per = c.get("timeUnit") if unit_time == 1 else f"{unit_time} {c.get('timeUnit')}"
    return f"{count(requests)} requests per {per}"


def tier_price_parts(tier: dict[str, Any]) -> tuple[str, str]:
    """(headline price, what it is per) of a plan in the store API's tier shape."""
    if tier.get("tierPlan") != "COMMERCIAL":
        return "Free", ""
    attrs = tier.get("monetizationAttributes") or {}
    currency = attrs.get("currencyType") or ""
    cycle = attrs.get("billingCycle") or "month"
    included = int(attrs.get("includedRequests") or 0)
    extra = f"; first {count(included)} requests included" if included else ""
    if attrs.get("fixedPrice"):
        return price(attrs["fixedPrice"], currency), f"per {cycle}{extra}"
    if attrs.get("tiers"):
        mode = attrs.get("tierMode") or "graduated"
        return "Tiered", f"per call in {currency.upper()}, {mode}, billed each {cycle}{extra}"
    if attrs.get("pricePerRequest"):
        return price(attrs["pricePerRequest"], currency), f"per request, billed each {cycle}{extra}"
    return "Paid plan", ""


def tier_price(tier: dict[str, Any]) -> str:
    """The price of a plan on one line, as the plan selection lists it."""
    headline, per = tier_price_parts(tier)
    return f"{headline} {per}".strip()


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _places(currency: str) -> int | None:
    try:
        return minor_unit(currency)
    except UnknownCurrencyError:
        return None


def _with_places(amount: Decimal, currency: str, *, whole_only: bool) -> str:
    """``amount`` exactly; padded to the currency's minor unit where that loses no digit (and,
    with ``whole_only``, only when the amount is a whole number of units)."""
    exact = format(amount.normalize(), "f")
    places = _places(currency)
    if places is None or (whole_only and amount != amount.to_integral_value()):
        return exact
    _, _, frac = exact.partition(".")
    if len(frac) > places:
        return exact  # never rounded: a price shows all of its digits
    return format(amount.quantize(Decimal(1).scaleb(-places)), "f")


def money(value: Any, currency: str) -> str:
    """A whole-unit amount (fixed price, flat fee) with the currency's minor unit ("5.00 USD",
    "1000 JPY", "1.125 KWD"); extra digits are shown, never rounded away."""
    amount = _decimal(value)
    if amount is None:
        return str(value or "")
    return f"{_with_places(amount, currency, whole_only=False)} {currency.upper()}"


def unit_price(value: Any, currency: str) -> str:
    """A per-call price with its exact digits ("0.0008 USD", "0.5 KWD"); a whole number of units
    gets the minor unit ("1.00 USD", "2 JPY")."""
    amount = _decimal(value)
    if amount is None:
        return str(value or "")
    return f"{_with_places(amount, currency, whole_only=True)} {currency.upper()}"


@dataclass(frozen=True, slots=True)
class PriceRow:
    calls: str  # which calls of the billing cycle ("1\u20131,000", "over 10,000")
    price: str  # what they cost ("0.0008 USD per call + 5.00 USD flat fee")


@dataclass(frozen=True, slots=True)
class PriceTable:
    """A tiered plan as a person reads it: how tiers apply, the included calls, each band."""

    mode: str
    rows: tuple[PriceRow, ...]


EN_DASH = "\u2013"  # between a band's first and last call, as in "1,001\u201310,000"
TIER_MODE_WORDS = {
    "graduated": "Graduated: each band's calls are charged at that band's price",
    "volume": (
        "Volume: every call of the {cycle} is charged at the price of the band the {cycle}'s total reaches"
    ),
}


def price_table(
    tiers: Sequence[dict[str, Any]], mode: str | None, currency: str, cycle: str, included: int
) -> PriceTable | None:
    """The bands of a tiered price (tiers in the REST shape: upTo, unitPrice, flatAmount)."""
    if not tiers:
        return None
    mode = mode or "graduated"
    rows = []
    if included:
        rows.append(PriceRow(f"First {count(included)} calls each {cycle}", "included, free"))
    previous = 0
    for tier in tiers:
        up_to = tier.get("upTo")
        first = previous + 1
        if up_to is None:
            calls = f"over {count(previous)}" if previous else "every call"
        elif int(up_to) == first:
            calls = count(first)
        else:
            calls = f"{count(first)}{EN_DASH}{count(up_to)}"
        cost = f"{unit_price(tier.get('unitPrice'), currency)} per call"
        flat = _decimal(tier.get("flatAmount"))
        if flat:
            cost += f" + {money(flat, currency)} flat fee"
        rows.append(PriceRow(calls, cost))
        previous = int(up_to) if up_to is not None else previous
    words = TIER_MODE_WORDS.get(mode, mode).format(cycle=cycle)
    return PriceTable(mode=words, rows=tuple(rows))


def tier_price_table(tier: dict[str, Any]) -> PriceTable | None:
    """The price table of a plan in the store API's tier shape (None unless it is tiered)."""
    if tier.get("tierPlan") != "COMMERCIAL":
        return None
    attrs = tier.get("monetizationAttributes") or {}
    return price_table(
        attrs.get("tiers") or [],
        attrs.get("tierMode"),
        attrs.get("currencyType") or "",
        attrs.get("billingCycle") or "month",
        int(attrs.get("includedRequests") or 0),
    )


def plan_price_table(plan: dict[str, Any]) -> PriceTable | None:
    """The price table of a plan in the admin API's shape (None unless it is tiered)."""
    monetization = plan.get("monetization") or {}
    if plan.get("billingPlan") != "COMMERCIAL" or not monetization:
        return None
    props = monetization.get("properties") or {}
    return price_table(
        monetization.get("tiers") or [],
        monetization.get("tierMode"),
        props.get("currencyType") or "",
        props.get("billingCycle") or "month",
        int(props.get("includedRequests") or 0),
    )


GLOBALS: dict[str, Callable[..., Any]] = {
    "plan_price": plan_price,
    "plan_price_table": plan_price_table,
    "tier_price_table": tier_price_table,
    "plan_quota": plan_quota,
    "tier_price": tier_price,
    "tier_price_parts": tier_price_parts,
}

STATUS_WORDS = {
    "UNBLOCKED": "Active",
    "BLOCKED": "Blocked",
    "PROD_ONLY_BLOCKED": "Production blocked",
    "ON_HOLD": "Awaiting approval",
    "REJECTED": "Rejected",
    "TIER_UPDATE_PENDING": "Plan change awaiting approval",
    "DELETE_PENDING": "Removal awaiting approval",
    "CREATED": "Awaiting approval",
    "APPROVED": "Approved",
}


def status(value: str) -> str:
    """A subscription's or application's status in words (the REST code stays in the API)."""
    return STATUS_WORDS.get(value, value)


PAYMENT_WORDS = {
    "open": "Open",
    "paid": "Paid",
    "void": "Void",
    "uncollectible": "Uncollectible",
    "draft": "Draft",
}


def payment_status(value: str) -> str:
    return PAYMENT_WORDS.get(value, value)


FILTERS: dict[str, Callable[..., str]] = {
    "status": status,
    "payment_status": payment_status,
    "price": price,
    "money": money,
    "unit_price": unit_price,
    "when": when,
    "day": day,
    "count": count,
}
