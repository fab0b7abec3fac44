"""Template filters: money, dates and counts as a person reads them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


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
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        shown: str = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return shown
    return str(value)


def day(value: Any) -> str:
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
        first = attrs["tiers"][0].get("unitPrice")
        return f"from {price(first, currency)}", f"per request, tiered, billed each {cycle}{extra}"
    if attrs.get("pricePerRequest"):
        return price(attrs["pricePerRequest"], currency), f"per request, billed each {cycle}{extra}"
    return "Paid plan", ""


def tier_price(tier: dict[str, Any]) -> str:
    """The price of a plan on one line, as the plan selection lists it."""
    headline, per = tier_price_parts(tier)
    return f"{headline} {per}".strip()


GLOBALS: dict[str, Callable[..., Any]] = {
    "plan_price": plan_price,
    "plan_quota": plan_quota,
    "tier_price": tier_price,
    "tier_price_parts": tier_price_parts,
}

FILTERS: dict[str, Callable[..., str]] = {"price": price, "when": when, "day": day, "count": count}
