"""A business plan's monetization, as the pure :class:`PricingPlan` the engines and pricing use.

A subscription policy is *monetized* when its ``billingPlan`` is COMMERCIAL and it names a
monetization plan (FixedRate or DynamicRate). A COMMERCIAL plan without one is shown as paid but
billed by nobody, as in WSO2.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, cast

from tollway.errors import BadRequest
from tollway.models import SubscriptionPolicy
from tollway.pricing.prices import PriceTier, PricingError, PricingPlan

PLAN_TYPES = {"fixedrate": "FixedRate", "dynamicrate": "DynamicRate"}


def is_monetized(policy: SubscriptionPolicy) -> bool:
    return (policy.billing_plan or "").upper() == "COMMERCIAL" and bool(policy.monetization_plan)


def _field(error: PricingError) -> str:
    # Report the field where the REST body has it.
    if error.field in ("monetizationPlan", "tiers", "tierMode"):
        return f"monetization.{error.field}"
    return f"monetization.properties.{error.field}"


def pricing_plan_of(policy: SubscriptionPolicy) -> PricingPlan | None:
    """The policy's pricing, validated; None for a plan that is not monetized.

    A plan that cannot be priced (bad price, unknown currency, unsupported cycle) raises
    :class:`BadRequest` naming the REST field, so nothing about it is written anywhere.
    """
    if not is_monetized(policy):
        return None
    plan_type = PLAN_TYPES.get((policy.monetization_plan or "").lower())
    if plan_type is None:
        raise BadRequest(
            "'monetization.monetizationPlan': must be FixedRate or DynamicRate, "
            f"got {policy.monetization_plan!r}"
        )
    tiers = tuple(
        PriceTier(up_to=tier.up_to, unit_price=tier.unit_price, flat_amount=tier.flat_amount or Decimal(0))
        for tier in sorted(policy.tiers, key=lambda t: t.position)
    )
    if plan_type == "FixedRate":
        tiers = ()
    plan = PricingPlan(
        plan_type=cast(Literal["FixedRate", "DynamicRate"], plan_type),
        currency=(policy.currency or "").strip().upper(),
        billing_cycle=cast(Literal["day", "week", "month", "year"], (policy.billing_cycle or "").lower()),
        fixed_price=policy.fixed_price,
        price_per_request=policy.price_per_request if not tiers else None,
        included_requests=int(policy.included_requests or 0),
        tiers=tiers,
        tier_mode=cast(Literal["graduated", "volume"], (policy.tier_mode or "graduated").lower()),
        prepaid=(policy.billing_mode or "").upper() == "PREPAID",
    )
    try:
        plan.validate()
    except PricingError as error:
        raise BadRequest(f"'{_field(error)}': {error.message}") from None
    except TypeError as error:  # a float or None where a price belongs
        raise BadRequest(f"'monetization.properties': {error}") from None
    return plan
