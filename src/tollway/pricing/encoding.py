"""Exact JSON form of a :class:`PricingPlan` (prices as decimal strings), for storage and comparison."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tollway.pricing.prices import PriceTier, PricingPlan


def price_text(value: Decimal) -> str:
    """A price as its shortest exact decimal string ("0.0004", not "0.000400000000" as NUMERIC
    columns give it back), so equal prices always compare equal."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def pricing_to_json(plan: PricingPlan) -> dict[str, Any]:
    """Exact JSON form (prices as decimal strings) for storage and comparison."""
    return {
        "planType": plan.plan_type,
        "currency": plan.currency,
        "billingCycle": plan.billing_cycle,
        "fixedPrice": None if plan.fixed_price is None else price_text(plan.fixed_price),
        "pricePerRequest": None if plan.price_per_request is None else price_text(plan.price_per_request),
        "includedRequests": plan.included_requests,
        "tiers": [
            {
                "upTo": tier.up_to,
                "unitPrice": price_text(tier.unit_price),
                "flatAmount": price_text(tier.flat_amount),
            }
            for tier in plan.tiers
        ],
        "tierMode": plan.tier_mode,
    } | ({"prepaid": True} if plan.prepaid else {})


def pricing_from_json(data: dict[str, Any]) -> PricingPlan:
    def price(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    return PricingPlan(
        plan_type=data["planType"],
        currency=data["currency"],
        billing_cycle=data["billingCycle"],
        fixed_price=price(data.get("fixedPrice")),
        price_per_request=price(data.get("pricePerRequest")),
        included_requests=int(data.get("includedRequests") or 0),
        tiers=tuple(
            PriceTier(
                up_to=tier.get("upTo"),
                unit_price=Decimal(str(tier["unitPrice"])),
                flat_amount=Decimal(str(tier.get("flatAmount") or "0")),
            )
            for tier in data.get("tiers") or ()
        ),
        tier_mode=data.get("tierMode") or "graduated",
        prepaid=bool(data.get("prepaid")),
    )
