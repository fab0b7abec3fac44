"""Settling prepaid subscriptions: their stored calls and their fees become wallet entries.

Run by the scheduler (and after a top-up). Per subscription on a PREPAID plan, for the current
and the previous billing period (periods anchored like the gateway's,
:mod:`tollway.gateway.prepaid_loader`):

- **consumption**: the billable calls stored for the period beyond those settled before
  (``calls_through`` of its last consumption entry), at their exact price
  (:func:`tollway.pricing.prices.usage_cost`: the cost of the first n calls minus the cost of
  the first m, so tiers and included calls come out exactly as the invoice prices them);
- **fee** (FixedRate): the period's fee, once (reference ``fee:<subscription>:<period start>``),
  when the balance can pay it; until then the gateway answers 402.

Entries are idempotent by reference, so two maintenance runs on two nodes settle a call once.
Settling consumption does not move the gateway's change counter: the gateway counted those calls
already and the balance falls by exactly their cost (see :mod:`tollway.gateway.prepaid`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tollway.errors import TollwayError
from tollway.metering.queries import usage_counts
from tollway.models import Application, MonSubscription, Subscription, SubscriptionPolicy, WalletEntry
from tollway.policies.pricing import pricing_plan_of
from tollway.pricing.periods import Period, boundary, period_at
from tollway.pricing.prices import PricingPlan, usage_cost
from tollway.wallets import entries

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SettleResult:
    consumption: int = 0  # entries written
    fees: int = 0
    fees_unpaid: int = 0  # fees the balance could not pay (the gateway refuses those calls)


def anchor_of(session: Session, sub: Subscription, policy: SubscriptionPolicy) -> tuple[datetime, str]:
    """Where the subscription's billing periods start, and their cycle (the gateway's rule)."""
    mon = session.scalar(
        select(MonSubscription)
        .where(MonSubscription.subscription_id == sub.id, MonSubscription.canceled_at.is_(None))
        .order_by(MonSubscription.started_at.desc())
        .limit(1)
    )
    if mon is not None:
        return mon.started_at, mon.billing_cycle
    return sub.created_at, (policy.billing_cycle or "month").lower()


def _settled(session: Session, sub_id: str, start: datetime) -> int:
    value = session.scalar(
        select(func.max(WalletEntry.calls_through)).where(
            WalletEntry.subscription_id == sub_id,
            WalletEntry.period_start == start,
            WalletEntry.kind == "consumption",
        )
    )
    return int(value or 0)


def _settle_usage(
    session: Session, sub: Subscription, owner_id: str, plan: PricingPlan, period: Period, now: datetime
) -> bool:
    stored = usage_counts(session, [sub.id], period.start, min(period.end, now)).get(sub.id, (0, 0))[0]
    settled = _settled(session, sub.id, period.start)
    if stored <= settled:
        return False
    cost = usage_cost(plan, stored) - usage_cost(plan, settled)
    wallet = entries.wallet_for(session, sub.tenant_id, owner_id, plan.currency)
    entry = entries.append(
        session,
        wallet,
        "consumption",
        -cost,
        reference=f"use:{sub.id}:{period.start.isoformat()}:{stored}",
        subscription_id=sub.id,
        period_start=period.start,
        calls_through=stored,
        reason=f"calls {settled + 1}-{stored} of the period from {period.start.isoformat()}",
        allow_negative=True,  # the gateway admitted them: record what they cost whatever is left
        gateway_changed=False,
    )
    if entry.balance_after < 0:
        log.warning(
            "prepaid wallet %s is overdrawn (%s): calls admitted beyond it", wallet.id, entry.balance_after
        )
    return True


def _take_fee(
    session: Session, sub: Subscription, owner_id: str, plan: PricingPlan, period: Period
) -> bool | None:
    """True: taken now; False: taken before; None: the balance cannot pay it."""
    reference = f"fee:{sub.id}:{period.start.isoformat()}"
    if entries.by_reference(session, reference) is not None:
        return False
    assert plan.fixed_price is not None
    wallet = entries.wallet_for(session, sub.tenant_id, owner_id, plan.currency)
    if entries.balance_of(session, wallet.id) < plan.fixed_price:
        return None
    entries.append(
        session,
        wallet,
        "fee",
        -plan.fixed_price,
        reference=reference,
        subscription_id=sub.id,
        period_start=period.start,
        reason=f"{plan.billing_cycle} fee for the period from {period.start.isoformat()}",
        gateway_changed=False,
    )
    return True


def settle_subscription(session: Session, sub: Subscription, now: datetime, result: SettleResult) -> None:
    policy = session.get(SubscriptionPolicy, sub.policy_id)
    owner_id = session.scalar(select(Application.owner_id).where(Application.id == sub.application_id))
    if policy is None or owner_id is None or policy.billing_mode != "PREPAID":
        return
    plan = pricing_plan_of(policy)
    if plan is None:
        return
    anchor, cycle = anchor_of(session, sub, policy)
    current = period_at(anchor, cycle, now)
    previous = Period(current.index - 1, boundary(anchor, cycle, current.index - 1), current.start)
    if plan.plan_type == "FixedRate":
        taken = _take_fee(session, sub, owner_id, plan, current)
        if taken:
            result.fees += 1
        elif taken is None:
            result.fees_unpaid += 1
        return
    for period in (previous, current):
        if _settle_usage(session, sub, owner_id, plan, period, now):
            result.consumption += 1


def settle_all(factory: sessionmaker[Session], now: datetime) -> SettleResult:
    """Settle every prepaid subscription, each in a transaction of its own."""
    result = SettleResult()
    with factory() as session:
        ids = list(
            session.scalars(
                select(Subscription.id)
                .join(SubscriptionPolicy, SubscriptionPolicy.id == Subscription.policy_id)
                .where(SubscriptionPolicy.billing_mode == "PREPAID")
            )
        )
    for sub_id in ids:
        try:
            with factory.begin() as session:
                sub = session.get(Subscription, sub_id)
                if sub is not None:
                    settle_subscription(session, sub, now, result)
        except (IntegrityError, TollwayError) as error:  # another node settled it meanwhile
            log.info("prepaid subscription %s not settled this time: %s", sub_id, error)
    return result
