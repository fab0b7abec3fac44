"""Business plans: create, change, delete, list; WSO2's default plans for a new tenant.

Every change bumps the plan's revision (engines version their prices by it), tells the gateway
to reload (``mark_gateway_config_changed``) and calls the monetization hooks inside the
transaction, after the flush, so a billing engine can refuse the change before anything commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from tollway.billing.hooks import MonetizationHooks
from tollway.db.base import utcnow
from tollway.db.integrity import flush_or_conflict
from tollway.errors import BadRequest, Conflict, NotFound
from tollway.models import PolicyPriceTier, SubscriptionPolicy
from tollway.models.changes import mark_gateway_config_changed
from tollway.policies import repository
from tollway.policies.pricing_input import PolicyPricing, optional_price, price_text, pricing_from, tier_texts
from tollway.policies.schemas import (
    BandwidthLimitOut,
    CustomAttributeOut,
    DefaultLimitOut,
    MonetizationOut,
    MonetizationPropertiesOut,
    PolicyIn,
    PolicyOut,
    PriceTierOut,
    RequestCountLimitOut,
)

# WSO2 API Manager 3.x ships these subscription tiers (all free, per minute).
DEFAULT_POLICIES: tuple[tuple[str, str, int], ...] = (
    ("Unlimited", "Allows unlimited requests", 2147483647),
    ("Gold", "Allows 5000 requests per minute", 5000),
    ("Silver", "Allows 2000 requests per minute", 2000),
    ("Bronze", "Allows 1000 requests per minute", 1000),
)


def seed_default_policies(session: Session, tenant_id: str) -> None:
    """Add WSO2's default plans (Unlimited, Gold, Silver, Bronze) that the tenant lacks.

    Called once when a tenant is created (``tollway.bootstrap.ensure_default_tenant`` for
    carbon.super, tenant creation for the others); not on every start, so a plan the admin
    deleted stays deleted.
    """
    existing = repository.policy_names(session, tenant_id)
    added = False
    for name, description, count in DEFAULT_POLICIES:
        if name in existing:
            continue
        session.add(
            SubscriptionPolicy(
                tenant_id=tenant_id,
                name=name,
                display_name=name,
                description=description,
                limit_type="RequestCountLimit",
                request_count=count,
                time_unit="min",
                unit_time=1,
                billing_plan="FREE",
            )
        )
        added = True
    if added:
        session.flush()
        mark_gateway_config_changed(session)


def get_policy(session: Session, tenant_id: str, policy_id: str) -> SubscriptionPolicy:
    policy = repository.get_policy(session, tenant_id, policy_id)
    if policy is None:
        raise NotFound(f"subscription policy {policy_id!r} not found")
    return policy


def list_policies(session: Session, tenant_id: str) -> Sequence[SubscriptionPolicy]:
    return repository.list_policies(session, tenant_id)


def create_policy(
    session: Session, hooks: MonetizationHooks, tenant_id: str, body: PolicyIn
) -> SubscriptionPolicy:
    pricing = _checked(body)
    if repository.get_policy_by_name(session, tenant_id, body.policyName) is not None:
        raise Conflict(f"a subscription policy named {body.policyName!r} already exists")
    policy = SubscriptionPolicy(tenant_id=tenant_id, name=body.policyName, revision=1)
    _apply(policy, body, pricing)
    session.add(policy)
    flush_or_conflict(session, f"a subscription policy named {body.policyName!r} already exists")
    _replace_tiers(session, policy, pricing)
    mark_gateway_config_changed(session)
    hooks.policy_created(session, policy)
    return policy


def update_policy(
    session: Session, hooks: MonetizationHooks, policy: SubscriptionPolicy, body: PolicyIn
) -> SubscriptionPolicy:
    if body.policyName != policy.name:
        raise BadRequest(f"'policyName': a policy cannot be renamed (it is {policy.name!r})")
    if body.policyId is not None and body.policyId != policy.id:
        raise BadRequest("'policyId': does not match the policy in the path")
    pricing = _checked(body)
    _apply(policy, body, pricing)
    policy.revision += 1
    policy.updated_at = utcnow()
    session.flush()
    _replace_tiers(session, policy, pricing)
    mark_gateway_config_changed(session)
    hooks.policy_updated(session, policy)
    return policy


def delete_policy(session: Session, hooks: MonetizationHooks, policy: SubscriptionPolicy) -> None:
    apis = repository.apis_offering(session, policy.id)
    if apis:
        raise Conflict(f"the policy {policy.name!r} is attached to API(s) {', '.join(apis[:10])}")
    subscriptions = repository.subscription_count(session, policy.id)
    if subscriptions:
        raise Conflict(f"the policy {policy.name!r} is used by {subscriptions} subscription(s)")
    hooks.policy_deleting(session, policy)
    session.delete(policy)
    flush_or_conflict(session, f"the policy {policy.name!r} is in use")
    mark_gateway_config_changed(session)


def _checked(body: PolicyIn) -> PolicyPricing:
    limit = body.defaultLimit
    if limit.type == "RequestCountLimit":
        if limit.requestCount is None:
            raise BadRequest("'defaultLimit.requestCount' is required when the type is RequestCountLimit")
        if limit.bandwidth is not None:
            raise BadRequest("'defaultLimit.bandwidth': does not apply to a RequestCountLimit")
    else:
        if limit.bandwidth is None:
            raise BadRequest("'defaultLimit.bandwidth' is required when the type is BandwidthLimit")
        if limit.requestCount is not None:
            raise BadRequest("'defaultLimit.requestCount': does not apply to a BandwidthLimit")
    if body.rateLimitCount > 0 and body.rateLimitTimeUnit is None:
        raise BadRequest("'rateLimitTimeUnit' is required when rateLimitCount is set")
    pricing = pricing_from(body)
    if body.billingMode == "PREPAID" and pricing.monetization_plan is None:
        raise BadRequest(
            "'billingMode': a PREPAID plan is paid from the subscriber's wallet, so it needs a price"
            " (billingPlan COMMERCIAL with a FixedRate or DynamicRate monetization)"
        )
    cap = optional_price(body.defaultSpendCap, "defaultSpendCap")
    if cap is not None and (
        body.billingMode == "PREPAID" or pricing.monetization_plan != "DynamicRate" or not cap
    ):
        raise BadRequest(
            "'defaultSpendCap': a spend cap needs a POSTPAID plan with a price per call (DynamicRate),"
            " and must be greater than 0"
        )
    return pricing


def _apply(policy: SubscriptionPolicy, body: PolicyIn, pricing: PolicyPricing) -> None:
    limit = body.defaultLimit
    policy.display_name = body.displayName or body.policyName
    policy.description = body.description
    policy.limit_type = limit.type
    if limit.requestCount is not None:
        policy.request_count = limit.requestCount.requestCount
        policy.time_unit = limit.requestCount.timeUnit
        policy.unit_time = limit.requestCount.unitTime
        policy.data_amount = policy.data_unit = None
    elif limit.bandwidth is not None:
        policy.data_amount = limit.bandwidth.dataAmount
        policy.data_unit = limit.bandwidth.dataUnit
        policy.time_unit = limit.bandwidth.timeUnit
        policy.unit_time = limit.bandwidth.unitTime
        policy.request_count = None
    policy.rate_limit_count = body.rateLimitCount
    policy.rate_limit_time_unit = body.rateLimitTimeUnit if body.rateLimitCount else None
    policy.stop_on_quota_reach = body.stopOnQuotaReach
    policy.billing_plan = body.billingPlan
    policy.billing_mode = body.billingMode
    policy.default_spend_cap = optional_price(body.defaultSpendCap, "defaultSpendCap")
    policy.monetization_plan = pricing.monetization_plan
    policy.fixed_price = pricing.fixed_price
    policy.price_per_request = pricing.price_per_request
    policy.currency = pricing.currency
    policy.billing_cycle = pricing.billing_cycle
    policy.included_requests = pricing.included_requests
    policy.tier_mode = pricing.tier_mode
    policy.extra_properties = {}
    policy.custom_attributes = [{"name": a.name, "value": a.value} for a in body.customAttributes]


def _replace_tiers(session: Session, policy: SubscriptionPolicy, pricing: PolicyPricing) -> None:
    # Old rows go first, in their own flush: (policy_id, position) is unique and the unit of
    # work would otherwise insert the new rows before deleting the old ones.
    if policy.tiers:
        policy.tiers.clear()
        session.flush()
    for position, tier in enumerate(pricing.tiers):
        policy.tiers.append(
            PolicyPriceTier(
                position=position, up_to=tier.up_to, unit_price=tier.unit_price, flat_amount=tier.flat_amount
            )
        )
    if pricing.tiers:
        session.flush()


def policy_out(policy: SubscriptionPolicy) -> PolicyOut:
    if policy.limit_type == "BandwidthLimit":
        limit = DefaultLimitOut(
            type="BandwidthLimit",
            requestCount=None,
            bandwidth=BandwidthLimitOut(
                timeUnit=policy.time_unit,
                unitTime=policy.unit_time,
                dataAmount=policy.data_amount or 0,
                dataUnit=policy.data_unit or "KB",
            ),
        )
    else:
        limit = DefaultLimitOut(
            type="RequestCountLimit",
            requestCount=RequestCountLimitOut(
                timeUnit=policy.time_unit, unitTime=policy.unit_time, requestCount=policy.request_count or 0
            ),
            bandwidth=None,
        )
    return PolicyOut(
        policyId=policy.id,
        policyName=policy.name,
        displayName=policy.display_name,
        description=policy.description,
        defaultLimit=limit,
        rateLimitCount=policy.rate_limit_count,
        rateLimitTimeUnit=policy.rate_limit_time_unit,
        stopOnQuotaReach=policy.stop_on_quota_reach,
        billingPlan=policy.billing_plan,
        billingMode=policy.billing_mode,
        defaultSpendCap=price_text(policy.default_spend_cap),
        monetization=monetization_out(policy),
        customAttributes=[
            CustomAttributeOut(name=str(a["name"]), value=str(a["value"])) for a in policy.custom_attributes
        ],
    )


def monetization_out(policy: SubscriptionPolicy) -> MonetizationOut | None:
    if policy.monetization_plan is None:
        return None
    tiers = [PriceTierOut(upTo=up, unitPrice=unit, flatAmount=flat) for up, unit, flat in tier_texts(policy)]
    return MonetizationOut(
        monetizationPlan=policy.monetization_plan,
        properties=MonetizationPropertiesOut(
            fixedPrice=price_text(policy.fixed_price),
            pricePerRequest=price_text(policy.price_per_request),
            currencyType=policy.currency,
            billingCycle=policy.billing_cycle,
            includedRequests=policy.included_requests,
        ),
        tiers=tiers or None,
        tierMode=policy.tier_mode,
    )
