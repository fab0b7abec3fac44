"""Spend caps: a subscriber limits what a postpaid subscription's calls may cost per billing period.

``HARD``: the gateway refuses (402) the call that would take the period's usage cost past the
cap, exactly (the same admission as prepaid wallets, with the cap as the balance:
:mod:`tollway.gateway.prepaid`); raising the cap lets calls through again within the gateway's
snapshot poll. ``SOFT``: kept and shown with the period's spend, not enforced. The spend is the
exact cost of the period's stored billable calls (:func:`tollway.pricing.prices.usage_cost`), as
the invoice prices them before rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollway.errors import BadRequest, NotFound
from tollway.identity.principal import Principal
from tollway.metering.queries import usage_counts
from tollway.models import Application, SpendCap, Subscription, SubscriptionPolicy
from tollway.models.changes import mark_gateway_config_changed
from tollway.policies.pricing import pricing_plan_of
from tollway.pricing.periods import Period, period_at
from tollway.pricing.prices import PricingPlan, usage_cost
from tollway.wallets.service import parse_amount, user_of
from tollway.wallets.settlement import anchor_of

MODES = ("HARD", "SOFT")


@dataclass(frozen=True, slots=True)
class CapView:
    subscription: Subscription
    cap: SpendCap | None
    currency: str
    spent: Decimal
    period: Period
    plan_default: Decimal | None  # the plan's default cap, which applies while ``cap`` is None


def owned_subscription(session: Session, caller: Principal, subscription_id: str) -> Subscription:
    """The caller's own subscription in the caller's tenant; 404 for anyone else's."""
    found = session.scalar(
        select(Subscription)
        .join(Application, Application.id == Subscription.application_id)
        .where(
            Subscription.id == subscription_id,
            Subscription.tenant_id == caller.tenant_id,
            Application.owner_id == user_of(caller),
        )
    )
    if found is None:
        raise NotFound(f"no subscription {subscription_id!r} of yours")
    return found


def capped_pricing(session: Session, sub: Subscription) -> tuple[SubscriptionPolicy, PricingPlan]:
    """The plan a cap can apply to: postpaid, with a price per call (400 naming why not)."""
    policy = session.get(SubscriptionPolicy, sub.policy_id)
    plan = pricing_plan_of(policy) if policy is not None else None
    if policy is None or plan is None or plan.plan_type != "DynamicRate":
        name = policy.name if policy is not None else sub.policy_id
        raise BadRequest(f"'amount': the plan {name!r} charges nothing per call: there is no spend to cap")
    if plan.prepaid:
        raise BadRequest(
            f"'amount': the plan {policy.name!r} is prepaid: its calls stop at the wallet's balance; "
            "caps are for postpaid plans"
        )
    return policy, plan


def spent(
    session: Session, sub: Subscription, policy: SubscriptionPolicy, plan: PricingPlan, now: datetime
) -> tuple[Decimal, Period]:
    """The exact cost of the current period's stored billable calls, and the period."""
    anchor, cycle = anchor_of(session, sub, policy)
    period = period_at(anchor, cycle, now)
    calls = usage_counts(session, [sub.id], period.start, now).get(sub.id, (0, 0))[0]
    return usage_cost(plan, calls), period


def view(session: Session, caller: Principal, subscription_id: str, now: datetime | None = None) -> CapView:
    sub = owned_subscription(session, caller, subscription_id)
    policy, plan = capped_pricing(session, sub)
    cost, period = spent(session, sub, policy, plan, now or datetime.now(UTC))
    return CapView(sub, session.get(SpendCap, sub.id), plan.currency, cost, period, policy.default_spend_cap)


def set_cap(
    session: Session, caller: Principal, subscription_id: str, amount_text: str, mode: str
) -> CapView:
    """Set (or replace) the cap; one below what the period has already cost is a 400."""
    if mode not in MODES:  # pragma: no cover - the schema's choices
        raise BadRequest(f"'mode': must be one of {', '.join(MODES)}")
    amount = parse_amount(amount_text, "amount", signed=False)
    now = datetime.now(UTC)
    current = view(session, caller, subscription_id, now)
    if amount < current.spent:
        raise BadRequest(
            f"'amount': {amount_text} {current.currency} is below what the subscription has cost since "
            f"{current.period.start.isoformat()} ({current.spent} {current.currency}); a cap cannot be lower"
        )
    cap = current.cap or SpendCap(subscription_id=current.subscription.id, tenant_id=caller.tenant_id)
    cap.amount, cap.mode, cap.updated_at = amount, mode, now
    cap.set_by = caller.username[:255] or None
    session.add(cap)
    session.flush()
    mark_gateway_config_changed(session)
    return CapView(
        current.subscription, cap, current.currency, current.spent, current.period, current.plan_default
    )


def remove_cap(session: Session, caller: Principal, subscription_id: str) -> None:
    sub = owned_subscription(session, caller, subscription_id)
    cap = session.get(SpendCap, sub.id)
    if cap is None:
        raise NotFound(f"subscription {subscription_id!r} has no spend cap of its own")
    session.delete(cap)
    session.flush()
    mark_gateway_config_changed(session)
