"""Business plans -> the engine's plans (platform account), and the API tiers that offer them.

* Created: a monetized (COMMERCIAL + FixedRate/DynamicRate) plan gets an engine plan inside the
  admin's transaction; a bad price, currency or cycle is a 400 before the engine is called.
* Edited: the engine answers the plan to use from now on (the same one when nothing billing-
  relevant changed). Prices are frozen per subscription, as in Stripe: an edit applies to
  subscriptions made afterwards, so monetized APIs' tier plans move to the new version and
  existing subscriptions keep the price they subscribed at.
* Deleted: the engine plan is retired after the commit (subscriptions on it keep billing).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollway.billing.contract import EnginePlan, TierPlan, TierSpec
from tollway.models import Api, MonApiTierPlan, MonPolicyPlan, SubscriptionPolicy
from tollway.monetization.context import api_spec, plan_spec
from tollway.monetization.service import MonetizationService
from tollway.policies.pricing import pricing_plan_of
from tollway.pricing.prices import PricingPlan


def _plan_key(policy: SubscriptionPolicy) -> str:
    return f"plan:{policy.id}:r{policy.revision}"


def ensure_platform_plan(
    svc: MonetizationService, session: Session, policy: SubscriptionPolicy, pricing: PricingPlan
) -> EnginePlan:
    """The policy's engine plan, created now if the policy has none yet."""
    row = session.get(MonPolicyPlan, policy.id)
    if row is not None:
        return EnginePlan(row.engine_product_id, row.engine_plan_id, row.engine_meter_id)
    call = svc.call(session, policy.tenant_id, _plan_key(policy))
    with svc.engine_errors():
        created = svc.engine.create_plan(call, plan_spec(policy, pricing))
    svc.compensate(session, lambda: svc.engine.delete_plan(call, created))
    session.add(
        MonPolicyPlan(
            policy_id=policy.id,
            engine_product_id=created.product_id,
            engine_plan_id=created.plan_id,
            engine_meter_id=created.meter_id,
        )
    )
    session.flush()
    return created


def on_policy_created(svc: MonetizationService, session: Session, policy: SubscriptionPolicy) -> None:
    pricing = pricing_plan_of(policy)  # 400 naming the field before anything reaches the engine
    if pricing is not None:
        ensure_platform_plan(svc, session, policy, pricing)


def on_policy_updated(svc: MonetizationService, session: Session, policy: SubscriptionPolicy) -> None:
    pricing = pricing_plan_of(policy)
    row = session.get(MonPolicyPlan, policy.id)
    if pricing is None:
        if row is not None:
            _retire_policy(svc, session, policy, row)
        return
    if row is None:
        ensure_platform_plan(svc, session, policy, pricing)
    else:
        current = EnginePlan(row.engine_product_id, row.engine_plan_id, row.engine_meter_id)
        call = svc.call(session, policy.tenant_id, _plan_key(policy))
        with svc.engine_errors():
            updated = svc.engine.update_plan(call, plan_spec(policy, pricing), current)
        if updated == current:
            return
        svc.compensate(session, lambda: svc.engine.delete_plan(call, updated))
        row.engine_product_id, row.engine_plan_id, row.engine_meter_id = (
            updated.product_id,
            updated.plan_id,
            updated.meter_id,
        )
    _refresh_tier_plans(svc, session, policy, pricing)


def _tier_rows(session: Session, policy_id: str) -> list[MonApiTierPlan]:
    return list(
        session.scalars(
            select(MonApiTierPlan).where(
                MonApiTierPlan.policy_id == policy_id, MonApiTierPlan.active.is_(True)
            )
        )
    )


def _refresh_tier_plans(
    svc: MonetizationService, session: Session, policy: SubscriptionPolicy, pricing: PricingPlan
) -> None:
    """Monetized APIs offering the plan move their tier to the new price version."""
    platform = ensure_platform_plan(svc, session, policy, pricing)
    for row in _tier_rows(session, policy.id):
        api = session.get(Api, row.api_id)
        if api is not None:
            _move_tier(
                svc, session, policy, TierSpec(row.tier_name, plan_spec(policy, pricing), platform), api, row
            )


def _move_tier(
    svc: MonetizationService,
    session: Session,
    policy: SubscriptionPolicy,
    tier: TierSpec,
    api: Api,
    row: MonApiTierPlan,
) -> None:
    spec = api_spec(api)
    old = TierPlan(row.tier_name, row.engine_product_id, row.engine_plan_id)
    call = svc.call(session, policy.tenant_id, f"tier:{api.id}:{policy.id}:r{policy.revision}")
    with svc.engine_errors():
        (new,) = svc.engine.enable_monetization(call, spec, [tier])
    svc.compensate(session, lambda: svc.engine.disable_monetization(call, spec, [new]))
    row.engine_product_id, row.engine_plan_id = new.product_id, new.plan_id
    # The old version is retired after commit; subscriptions on it keep their price.
    svc.later(
        session,
        policy.tenant_id,
        f"tier-retire:{old.plan_id}",
        lambda _s, c: svc.engine.disable_monetization(c, spec, [old]),
    )


def _retire_policy(
    svc: MonetizationService, session: Session, policy: SubscriptionPolicy, row: MonPolicyPlan
) -> None:
    """The plan is no longer monetized: retire its engine plan and the API tier plans after commit."""
    plan = EnginePlan(row.engine_product_id, row.engine_plan_id, row.engine_meter_id)
    session.delete(row)
    for tier in _tier_rows(session, policy.id):
        tier.active = False  # retired in the engine by the maintenance run (see apis.retire_inactive_tiers)
    svc.later(
        session,
        policy.tenant_id,
        f"plan-retire:{plan.plan_id}",
        lambda _s, c: svc.engine.delete_plan(c, plan),
    )
    svc.wake_scheduler()


def on_policy_deleting(svc: MonetizationService, session: Session, policy: SubscriptionPolicy) -> None:
    row = session.get(MonPolicyPlan, policy.id)
    if row is not None:
        _retire_policy(svc, session, policy, row)
