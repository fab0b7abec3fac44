"""The ledger engine: Tollway's own billing records, kept in Tollway's database.

* A plan is a frozen price version (``ledger_plans``): editing a business plan makes a new
  version for new subscriptions; a subscription keeps the price it was created with.
* Customers and subscriptions are rows; a subscription's billing periods are UTC, one per billing
  cycle, anchored at its start (:mod:`tollway.pricing.periods`).
* Usage arrives as records keyed by the publisher's idempotency key (the primary key), so a
  record sent twice is stored once (checked for all records of a transaction when it flushes).
  A record belongs to the period that holds its window's end (``period.start < usage_time <=
  period.end``; the publisher never lets a window cross a period boundary).
* An invoice is computed from the period's records with the pure pricing module: the open
  period live (status ``draft``), an ended one when Tollway finalizes it (status ``open``: the
  ledger records what is owed; it does not collect money).

The engine is transactional: it writes through ``call.session`` and never commits, so its rows
commit or roll back with the Tollway change that caused them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tollway.billing.contract import (
    ApiSpec,
    CustomerSpec,
    EngineCall,
    EngineError,
    EngineInvoice,
    EnginePlan,
    EngineRejected,
    EngineSetup,
    PlanSpec,
    SharedCustomerSpec,
    SubscriptionRef,
    SubscriptionSpec,
    TierPlan,
    TierSpec,
    UsageRecord,
    invoice_of,
)
from tollway.db.base import utcnow
from tollway.models import LedgerCustomer, LedgerPlan, LedgerSubscription, LedgerUsageRecord
from tollway.pricing.encoding import pricing_from_json, pricing_to_json
from tollway.pricing.periods import Period, period_at
from tollway.pricing.prices import PricingPlan, price_period

_TICK = timedelta(microseconds=1)
_PENDING_USAGE = "ledger_usage_pending"


def _check_same(row: LedgerUsageRecord, quantity: int, subscription_id: str) -> None:
    if (row.quantity, row.subscription_id) != (quantity, subscription_id):
        raise EngineError(f"usage record {row.id} was sent before with other content")


def _drop_usage_seen_before(session: Session, _context: object, _instances: object) -> None:
    """Idempotency at flush: usage records whose key is already stored are not inserted again.

    One query per flush for all the records added since the last one, instead of one per
    ``publish_usage`` call (the publisher sends thousands of subscriptions in one transaction).
    """
    pending: dict[str, LedgerUsageRecord] = session.info.pop(_PENDING_USAGE, {})
    keys = list(pending)
    for offset in range(0, len(keys), 500):
        stored = session.execute(
            select(LedgerUsageRecord.id, LedgerUsageRecord.quantity, LedgerUsageRecord.subscription_id).where(
                LedgerUsageRecord.id.in_(keys[offset : offset + 500])
            )
        )
        for key, quantity, subscription_id in stored:
            row = pending[key]
            _check_same(row, quantity, subscription_id)
            session.expunge(row)


def ledger_id(prefix: str, key: str) -> str:
    """Ids derived from the idempotency key: the same operation always names the same row."""
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class LedgerEngine:
    name = "ledger"
    transactional = True

    def __init__(self, setup: EngineSetup | None = None) -> None:
        self.setup = setup

    # -- plans -------------------------------------------------------------------------------

    def _add_plan(
        self,
        session: Session,
        tenant_id: str,
        plan_id: str,
        product_id: str,
        policy_id: str,
        pricing: PricingPlan,
    ) -> LedgerPlan:
        row = session.get(LedgerPlan, plan_id)
        if row is None:
            row = LedgerPlan(
                id=plan_id,
                tenant_id=tenant_id,
                policy_id=policy_id,
                product_id=product_id,
                pricing=pricing_to_json(pricing),
                active=True,
            )
            session.add(row)
        return row

    def create_plan(self, call: EngineCall, plan: PlanSpec) -> EnginePlan:
        product = f"lprod_{plan.policy_id}"
        row = self._add_plan(
            call.session, call.tenant.id, ledger_id("lplan", call.key), product, plan.policy_id, plan.pricing
        )
        return EnginePlan(product_id=row.product_id, plan_id=row.id)

    def update_plan(self, call: EngineCall, plan: PlanSpec, current: EnginePlan) -> EnginePlan:
        old = call.session.get(LedgerPlan, current.plan_id)
        if old is not None and old.active and old.pricing == pricing_to_json(plan.pricing):
            return current  # nothing billing-relevant changed
        created = self.create_plan(call, plan)
        if old is not None and old.id != created.plan_id:
            old.active = False
        return created

    def delete_plan(self, call: EngineCall, plan: EnginePlan) -> None:
        row = call.session.get(LedgerPlan, plan.plan_id)
        if row is not None:
            row.active = False  # kept: subscriptions on it still bill at its price

    def enable_monetization(
        self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierSpec]
    ) -> list[TierPlan]:
        product = f"lprod_api_{api.api_id}"
        answer = []
        for tier in tiers:
            plan_id = ledger_id("lplan", call.subkey(tier.tier_name))
            row = self._add_plan(
                call.session, call.tenant.id, plan_id, product, tier.plan.policy_id, tier.plan.pricing
            )
            row.active = True
            answer.append(TierPlan(tier.tier_name, product, row.id))
        return answer

    def disable_monetization(self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierPlan]) -> None:
        for tier in tiers:
            self.delete_plan(call, EnginePlan(tier.product_id, tier.plan_id))

    # -- customers and subscriptions ------------------------------------------------------------

    def create_customer(self, call: EngineCall, customer: CustomerSpec) -> str:
        customer_id = ledger_id("lcus", call.key)
        if call.session.get(LedgerCustomer, customer_id) is None:
            call.session.add(
                LedgerCustomer(
                    id=customer_id, tenant_id=call.tenant.id, name=customer.name, email=customer.email
                )
            )
        return customer_id

    def create_shared_customer(self, call: EngineCall, spec: SharedCustomerSpec) -> str:
        customer_id = ledger_id("lcus", call.key)
        if call.session.get(LedgerCustomer, customer_id) is None:
            call.session.add(
                LedgerCustomer(
                    id=customer_id,
                    tenant_id=call.tenant.id,
                    name=spec.customer.name,
                    email=spec.customer.email,
                    parent_id=spec.parent_customer_id,
                    # The provider's account: the connected account when the publisher gave one.
                    account=spec.api.properties.get("ConnectedAccountKey") or spec.api.provider,
                )
            )
        return customer_id

    def delete_customer(self, call: EngineCall, customer_id: str, api: ApiSpec | None) -> None:
        row = call.session.get(LedgerCustomer, customer_id)
        if row is not None:
            call.session.delete(row)

    def create_subscription(self, call: EngineCall, spec: SubscriptionSpec) -> str:
        plan = call.session.get(LedgerPlan, spec.tier.plan_id)
        if plan is None or not plan.active:
            raise EngineRejected("throttlingPolicy", f"the plan of tier {spec.tier.tier_name!r} is retired")
        if call.session.get(LedgerCustomer, spec.customer_id) is None:
            raise EngineError(f"unknown ledger customer {spec.customer_id}")
        subscription_id = ledger_id("lsub", call.key)
        if call.session.get(LedgerSubscription, subscription_id) is None:
            call.session.add(
                LedgerSubscription(
                    id=subscription_id,
                    tenant_id=call.tenant.id,
                    customer_id=spec.customer_id,
                    plan_id=plan.id,
                    status="active",
                    anchor_at=spec.start,
                )
            )
        return subscription_id

    def _subscription(self, session: Session, subscription: SubscriptionRef) -> LedgerSubscription:
        row = session.get(LedgerSubscription, subscription.id)
        if row is None:
            raise EngineError(f"unknown ledger subscription {subscription.id}")
        return row

    def cancel_subscription(self, call: EngineCall, subscription: SubscriptionRef, at: datetime) -> None:
        row = self._subscription(call.session, subscription)
        row.status = "canceled"
        row.canceled_at = at

    def resume_subscription(self, call: EngineCall, subscription: SubscriptionRef) -> None:
        row = self._subscription(call.session, subscription)
        if row.canceled_at is not None and row.canceled_at <= utcnow():
            raise EngineError(f"ledger subscription {row.id} has already ended")
        row.status = "active"
        row.canceled_at = None

    # -- usage and invoices ----------------------------------------------------------------------

    def publish_usage(
        self, call: EngineCall, subscription: SubscriptionRef, records: Sequence[UsageRecord]
    ) -> None:
        for record in records:
            if record.quantity < 0 or record.window_end <= record.window_start:
                raise EngineRejected("usage", f"record {record.key}: bad quantity or window")
        pending: dict[str, LedgerUsageRecord] = call.session.info.setdefault(_PENDING_USAGE, {})
        if not event.contains(call.session, "before_flush", _drop_usage_seen_before):
            event.listen(call.session, "before_flush", _drop_usage_seen_before)
        for record in records:
            earlier = pending.get(record.key)
            if earlier is not None:
                _check_same(earlier, record.quantity, subscription.id)
                continue
            row = LedgerUsageRecord(
                id=record.key,
                subscription_id=subscription.id,
                quantity=record.quantity,
                usage_time=record.window_end,
            )
            call.session.add(row)
            pending[record.key] = row

    def _billable_calls(self, session: Session, subscription_id: str, start: datetime, end: datetime) -> int:
        total = session.scalar(
            select(func.sum(LedgerUsageRecord.quantity)).where(
                LedgerUsageRecord.subscription_id == subscription_id,
                LedgerUsageRecord.usage_time > start,
                LedgerUsageRecord.usage_time <= end,
            )
        )
        return int(total or 0)

    def _invoice(
        self, session: Session, row: LedgerSubscription, api: ApiSpec, period: Period, status: str
    ) -> EngineInvoice:
        plan = session.get(LedgerPlan, row.plan_id)
        if plan is None:
            raise EngineError(f"ledger plan {row.plan_id} is missing")
        pricing = pricing_from_json(plan.pricing)
        calls = (
            0
            if pricing.plan_type == "FixedRate"
            else self._billable_calls(session, row.id, period.start, period.end)
        )
        priced = price_period(pricing, calls)
        customer = session.get(LedgerCustomer, row.customer_id)
        invoice_id = ledger_id("lin", f"{row.id}:{period.index}")
        return invoice_of(
            invoice_id,
            status,
            period,
            priced,
            customer_name=customer.name if customer else "",
            customer_email=customer.email if customer else None,
            description=f"{api.name} {api.version}: {pricing.plan_type} plan, per {pricing.billing_cycle}",
            extra={"Billable Requests": str(calls)} if pricing.plan_type == "DynamicRate" else {},
        )

    def _period(self, row: LedgerSubscription, cycle: str, at: datetime) -> Period | None:
        if row.canceled_at is not None and at >= row.canceled_at:
            at = row.canceled_at - _TICK  # the last period, cut at the cancellation
        if at < row.anchor_at:
            return None
        period = period_at(row.anchor_at, cycle, at)
        if row.canceled_at is not None and row.canceled_at < period.end:
            period = Period(period.index, period.start, row.canceled_at)
        return period

    def preview_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, at: datetime
    ) -> EngineInvoice | None:
        row = self._subscription(call.session, subscription)
        plan = call.session.get(LedgerPlan, row.plan_id)
        if plan is None:
            raise EngineError(f"ledger plan {row.plan_id} is missing")
        period = self._period(row, pricing_from_json(plan.pricing).billing_cycle, at)
        if period is None:
            return None
        return self._invoice(call.session, row, subscription.api, period, "draft")

    def period_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, period: Period
    ) -> EngineInvoice | None:
        row = self._subscription(call.session, subscription)
        return self._invoice(call.session, row, subscription.api, period, "open")

    def close(self) -> None:
        return None
