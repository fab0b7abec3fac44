"""Tollway pricing <-> Stripe prices and invoices, exactly (Decimal in, decimal strings out).

Stripe amounts are in the currency's minor unit (cents). A price like 0.0004 USD per request is
``unit_amount_decimal = "0.04"`` (cents, up to 12 decimal places): always exact, because a
Tollway price has at most 12 decimal places and the conversion only moves the decimal point.

Plans:

* ``FixedRate`` -> a licensed recurring price (``unit_amount_decimal``), billed per cycle.
* ``DynamicRate`` with ``pricePerRequest`` -> a metered price on a billing meter. With
  ``includedRequests`` it becomes a graduated price whose first tier (the included calls) is free.
* ``DynamicRate`` with ``tiers`` -> a tiered price (``graduated`` or ``volume``). Included calls
  become a free first tier for graduated prices; a volume price cannot express "the first N calls
  are free" and is refused (``EngineRejected``).
* Billing cycles ``day`` / ``week`` / ``month`` / ``year`` are Stripe intervals with count 1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tollway.billing.contract import EngineInvoice, EngineRejected, InvoiceLine
from tollway.pricing.currency import minor_unit, round_amount
from tollway.pricing.encoding import pricing_to_json
from tollway.pricing.prices import PricingPlan

# Stripe's minor unit where it differs from ISO 4217 (https://docs.stripe.com/currencies):
# ISK is sent as a two-decimal amount for backwards compatibility; MGA is zero-decimal.
_STRIPE_EXPONENT = {"ISK": 2, "MGA": 0}


def exponent(currency: str) -> int:
    """Decimal places of the amounts Stripe takes and answers in ``currency``."""
    code = currency.upper()
    return _STRIPE_EXPONENT.get(code, minor_unit(code))


def plain(value: Decimal) -> str:
    """The shortest exact decimal string of ``value`` ("0.04", "100", never "4E-2")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def to_minor(amount: Decimal, currency: str) -> str:
    """A major-unit amount as Stripe's ``*_decimal`` string in minor units (exact)."""
    return plain(amount.scaleb(exponent(currency)))


def from_minor(value: int | str | Decimal | None, currency: str) -> Decimal:
    """A Stripe minor-unit amount (integer or decimal string) in major units (exact)."""
    if value is None:
        return Decimal(0)
    return Decimal(str(value)).scaleb(-exponent(currency))


def money(value: int | None, currency: str) -> Decimal:
    """An invoice amount (integer minor units) in major units, with Tollway's (ISO 4217) places."""
    return round_amount(Decimal(int(value or 0)).scaleb(-exponent(currency)), currency)


def fingerprint(pricing: PricingPlan) -> str:
    """Identifies the billing-relevant content of a plan (kept in the price's metadata)."""
    text = json.dumps(pricing_to_json(pricing), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _tier(up_to: int | None, unit: Decimal, flat: Decimal, currency: str) -> dict[str, Any]:
    tier: dict[str, Any] = {
        "up_to": "inf" if up_to is None else up_to,
        "unit_amount_decimal": to_minor(unit, currency),
    }
    if flat:
        tier["flat_amount_decimal"] = to_minor(flat, currency)
    return tier


def _graduated(pricing: PricingPlan) -> list[dict[str, Any]]:
    """Tollway's tiers (and free included calls) as Stripe graduated tiers.

    A Stripe tier covers quantities (previous ``up_to``, ``up_to``]; the included calls become a
    free first tier, and a Tollway tier that lies wholly inside them is dropped (the ledger never
    bills it, nor its flat fee).
    """
    currency, included = pricing.currency, pricing.included_requests
    tiers: list[dict[str, Any]] = []
    if included > 0:
        tiers.append(_tier(included, Decimal(0), Decimal(0), currency))
    if pricing.tiers:
        for tier in pricing.tiers:
            if tier.up_to is not None and tier.up_to <= included:
                continue
            tiers.append(_tier(tier.up_to, tier.unit_price, tier.flat_amount, currency))
    else:
        assert pricing.price_per_request is not None
        tiers.append(_tier(None, pricing.price_per_request, Decimal(0), currency))
    return tiers


def price_params(pricing: PricingPlan, product: str, meter: str | None) -> dict[str, Any]:
    """``prices.create`` parameters for ``pricing`` (``meter`` for DynamicRate plans)."""
    if pricing.prepaid:
        raise EngineRejected(
            "billingMode",
            "the Stripe engine does not bill PREPAID plans yet (it would invoice the calls the wallet "
            "paid for); use the ledger engine or a POSTPAID plan",
        )
    currency = pricing.currency.upper()
    recurring: dict[str, Any] = {"interval": pricing.billing_cycle, "interval_count": 1}
    params: dict[str, Any] = {"currency": currency.lower(), "product": product, "recurring": recurring}
    if pricing.plan_type == "FixedRate":
        assert pricing.fixed_price is not None
        recurring["usage_type"] = "licensed"
        params["unit_amount_decimal"] = to_minor(pricing.fixed_price, currency)
        return params
    if meter is None:
        raise ValueError("a DynamicRate plan needs a billing meter")
    recurring.update(usage_type="metered", meter=meter)
    if pricing.price_per_request is not None and pricing.included_requests == 0:
        params["unit_amount_decimal"] = to_minor(pricing.price_per_request, currency)
        return params
    if pricing.tiers and pricing.tier_mode == "volume":
        if pricing.included_requests:
            raise EngineRejected(
                "monetization.properties.includedRequests",
                "Stripe's volume prices cannot make the first calls free; "
                "use graduated tiers or set includedRequests to 0",
            )
        params.update(
            billing_scheme="tiered",
            tiers_mode="volume",
            tiers=[_tier(t.up_to, t.unit_price, t.flat_amount, currency) for t in pricing.tiers],
        )
        return params
    params.update(billing_scheme="tiered", tiers_mode="graduated", tiers=_graduated(pricing))
    return params


# ----- invoices ------------------------------------------------------------------------------


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _line(line: Mapping[str, Any], currency: str) -> InvoiceLine:
    pricing = line.get("pricing") or {}
    quantity_text = line.get("quantity_decimal")
    quantity = line.get("quantity")
    if quantity is None:
        quantity = int(Decimal(str(quantity_text or 0)))
    return InvoiceLine(
        description=str(line.get("description") or ""),
        quantity=int(quantity),
        unit_amount=from_minor(pricing.get("unit_amount_decimal"), currency),
        amount=money(line.get("amount"), currency),
    )


def invoice_status(invoice: Mapping[str, Any], preview: bool) -> str:
    """Tollway's status: draft (still changing), open (owed), paid, void."""
    if preview:
        return "draft"
    status = str(invoice.get("status") or "draft")
    return "open" if status == "uncollectible" else status


def engine_invoice(
    invoice: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    *,
    period_start: datetime,
    period_end: datetime,
    description: str,
    preview: bool = False,
    facts: Mapping[str, str] | None = None,
) -> EngineInvoice:
    """A Stripe invoice (or preview) as the interface's invoice, over Tollway's period."""
    currency = str(invoice["currency"]).upper()
    total = money(invoice.get("total"), currency)
    excluding_tax = invoice.get("total_excluding_tax")
    tax = total - money(excluding_tax, currency) if excluding_tax is not None else money(0, currency)
    extra: dict[str, str] = dict(facts or {})
    if invoice.get("number"):
        extra["Stripe Invoice Number"] = str(invoice["number"])
    if invoice.get("hosted_invoice_url"):
        extra["Hosted Invoice URL"] = str(invoice["hosted_invoice_url"])
    if invoice.get("due_date"):
        extra["Due Date"] = moment(int(invoice["due_date"])).strftime("%Y-%m-%d %H:%M:%S UTC")
    return EngineInvoice(
        id=str(invoice.get("id") or ""),
        status=invoice_status(invoice, preview),
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        lines=tuple(_line(line, currency) for line in lines),
        subtotal=money(invoice.get("subtotal"), currency),
        tax=tax,
        total=total,
        amount_due=money(invoice.get("amount_due"), currency),
        amount_paid=money(invoice.get("amount_paid"), currency),
        customer_name=str(invoice.get("customer_name") or ""),
        customer_email=invoice.get("customer_email"),
        description=description,
        extra=extra,
    )
