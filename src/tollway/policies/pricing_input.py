"""From a business plan's ``monetization`` block to validated, exact pricing columns.

Every price is parsed with :func:`tollway.pricing.prices.parse_price` (after refusing anything
but ASCII: ``Decimal`` reads the digits of every script) and the whole plan is
checked with :meth:`PricingPlan.validate`, so what the admin API stores is what the billing
engines can price. Errors name the REST field (``monetization.properties.pricePerRequest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, cast

from tollway.errors import BadRequest
from tollway.models import SubscriptionPolicy
from tollway.policies.schemas import Monetization, PolicyIn
from tollway.pricing.currency import UnknownCurrencyError, normalize_currency
from tollway.pricing.prices import PriceTier, PricingError, PricingPlan, parse_price

PROPERTIES = "monetization.properties"
BOTH_PRICES = (
    f"'{PROPERTIES}.pricePerRequest' and 'monetization.tiers': give a price per request or tiers, not both"
)
_FIELD_PATHS = {
    "monetizationPlan": "monetization.monetizationPlan",
    "tiers": "monetization.tiers",
    "tierMode": "monetization.tierMode",
}


@dataclass(frozen=True, slots=True)
class PolicyPricing:
    """The pricing columns of a subscription policy (all empty for a FREE plan)."""

    monetization_plan: str | None = None
    fixed_price: Decimal | None = None
    price_per_request: Decimal | None = None
    currency: str | None = None
    billing_cycle: str | None = None
    included_requests: int = 0
    tiers: tuple[PriceTier, ...] = field(default=())
    tier_mode: str | None = None


FREE = PolicyPricing()


def _field_path(name: str) -> str:
    if "." in name or "[" in name:
        return name
    return _FIELD_PATHS.get(name, f"{PROPERTIES}.{name}")


def _bad(error: PricingError) -> BadRequest:
    return BadRequest(f"'{_field_path(error.field)}': {error.message}")


def _price(text: str | None, field_name: str) -> Decimal | None:
    if text is None or text == "":
        return None  # WSO2's admin portal sends "" for the prices a plan does not use
    if not text.isascii():
        # Decimal() reads the digits of every script (Arabic-Indic, fullwidth ...): money is ASCII only.
        raise BadRequest(f"'{field_name}': must be a decimal number in ASCII digits (0-9), got {text!r}")
    try:
        return parse_price(text, field_name)
    except PricingError as error:
        raise _bad(error) from None


def optional_price(text: str | None, field_name: str) -> Decimal | None:
    """A price given as text ("" or None: none), or a 400 naming ``field_name``."""
    return _price(text, field_name)


def _required_price(text: str, field_name: str) -> Decimal:
    price = _price(text, field_name)
    if price is None:
        raise BadRequest(f"'{field_name}' is required")
    return price


def price_text(value: Decimal | None) -> str | None:
    """A stored price as its shortest plain decimal string ("0.0004", "10")."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def tier_texts(policy: SubscriptionPolicy) -> list[tuple[int | None, str, str]]:
    """The plan's tiers in order as (upTo, unitPrice, flatAmount), prices as exact decimal strings."""
    return [
        (t.up_to, price_text(t.unit_price) or "0", price_text(t.flat_amount) or "0")
        for t in sorted(policy.tiers, key=lambda t: t.position)
    ]


def _has_price(monetization: Monetization | None) -> bool:
    if monetization is None:
        return False
    props = monetization.properties
    return bool(props.fixedPrice or props.pricePerRequest or monetization.tiers)


def pricing_from(body: PolicyIn) -> PolicyPricing:
    """Validate the body's monetization against its billing plan; 400 naming the field otherwise."""
    monetization = body.monetization
    if body.billingPlan == "FREE":
        if _has_price(monetization):
            raise BadRequest(
                "'monetization': a FREE plan has no price; set billingPlan to COMMERCIAL to charge"
            )
        return FREE
    if monetization is None:
        raise BadRequest("'monetization' is required when billingPlan is COMMERCIAL")
    if monetization.monetizationPlan is None:
        raise BadRequest("'monetization.monetizationPlan' is required (FixedRate or DynamicRate)")
    plan_type = monetization.monetizationPlan
    props = monetization.properties
    fixed = _price(props.fixedPrice, f"{PROPERTIES}.fixedPrice")
    per_request = _price(props.pricePerRequest, f"{PROPERTIES}.pricePerRequest")
    tiers = tuple(
        PriceTier(
            up_to=tier.upTo,
            unit_price=_required_price(tier.unitPrice, f"monetization.tiers[{i}].unitPrice"),
            flat_amount=_price(tier.flatAmount, f"monetization.tiers[{i}].flatAmount") or Decimal(0),
        )
        for i, tier in enumerate(monetization.tiers or [])
    )
    if plan_type == "FixedRate":
        for name, given in (
            ("pricePerRequest", per_request),
            ("tiers", tiers),
            ("tierMode", monetization.tierMode),
        ):
            if given:
                raise BadRequest(f"'{_field_path(name)}': does not apply to a FixedRate plan")
    else:
        if fixed is not None:
            raise BadRequest(f"'{PROPERTIES}.fixedPrice': does not apply to a DynamicRate plan")
        if per_request is not None and tiers:
            raise BadRequest(BOTH_PRICES)
        if monetization.tierMode and not tiers:
            raise BadRequest("'monetization.tierMode': applies only together with monetization.tiers")
    if not props.currencyType:
        raise BadRequest(f"'{PROPERTIES}.currencyType' is required for a COMMERCIAL plan")
    if props.billingCycle is None:
        raise BadRequest(f"'{PROPERTIES}.billingCycle' is required for a COMMERCIAL plan")
    try:
        currency = normalize_currency(props.currencyType)
    except UnknownCurrencyError:
        raise BadRequest(f"'{PROPERTIES}.currencyType': not an ISO 4217 currency code") from None
    tier_mode = monetization.tierMode or "graduated"
    plan = PricingPlan(
        plan_type=cast(Literal["FixedRate", "DynamicRate"], plan_type),
        currency=currency,
        billing_cycle=cast(Literal["day", "week", "month", "year"], props.billingCycle),
        fixed_price=fixed,
        price_per_request=per_request,
        included_requests=int(props.includedRequests or 0),
        tiers=tiers,
        tier_mode=cast(Literal["graduated", "volume"], tier_mode),
    )
    try:
        plan.validate()
    except PricingError as error:
        raise _bad(error) from None
    return PolicyPricing(
        monetization_plan=plan_type,
        fixed_price=fixed,
        price_per_request=per_request,
        currency=currency,
        billing_cycle=props.billingCycle,
        included_requests=plan.included_requests,
        tiers=tiers,
        tier_mode=tier_mode if tiers else None,
    )


def pricing_plan_of(policy: SubscriptionPolicy) -> PricingPlan | None:
    """The stored plan as a :class:`PricingPlan` (None for a FREE plan)."""
    if policy.billing_cycle is None or policy.monetization_plan is None or policy.currency is None:
        return None
    return PricingPlan(
        plan_type=cast(Literal["FixedRate", "DynamicRate"], policy.monetization_plan),
        currency=policy.currency,
        billing_cycle=cast(Literal["day", "week", "month", "year"], policy.billing_cycle),
        fixed_price=policy.fixed_price,
        price_per_request=policy.price_per_request,
        included_requests=policy.included_requests,
        tiers=tuple(PriceTier(t.up_to, t.unit_price, t.flat_amount) for t in policy.tiers),
        tier_mode=cast(Literal["graduated", "volume"], policy.tier_mode or "graduated"),
    )
