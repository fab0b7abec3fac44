"""A complete billing engine in one small file: keeps everything in memory.

It is the example of docs/billing-engines.md (a test checks that the two stay identical) and
the stand-in for an external engine in tests: it is *not* transactional, so Tollway compensates
its calls when a transaction rolls back, exactly as it does for Stripe.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tollway.billing.contract import (
    ApiSpec,
    CustomerSpec,
    EngineCall,
    EngineError,
    EngineInvoice,
    EnginePlan,
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
from tollway.pricing.periods import Period, period_at
from tollway.pricing.prices import PricingPlan, price_period


@dataclass
class Book:
    """Everything the engine knows; a real engine keeps this on its own servers."""

    plans: dict[str, PricingPlan] = field(default_factory=dict)
    retired: set[str] = field(default_factory=set)
    customers: dict[str, str] = field(default_factory=dict)  # id -> name
    subscriptions: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # id -> (plan, start)
    canceled: dict[str, datetime] = field(default_factory=dict)
    usage: dict[str, tuple[str, int, datetime]] = field(default_factory=dict)  # key -> (sub, n, end)
    done: dict[str, str] = field(default_factory=dict)  # idempotency key -> id answered


class InMemoryEngine:
    name = "memory"
    transactional = False  # its state is not in Tollway's database

    def __init__(self, setup: EngineSetup) -> None:
        self.book = Book()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def _new(self, prefix: str, key: str) -> str:
        # Idempotency: the same key always answers the same id, like Stripe's Idempotency-Key.
        if key not in self.book.done:
            self.book.done[key] = f"{prefix}_{next(self._ids)}"
        return self.book.done[key]

    def create_plan(self, call: EngineCall, plan: PlanSpec) -> EnginePlan:
        with self._lock:
            plan_id = self._new("plan", call.key)
            self.book.plans[plan_id] = plan.pricing
            return EnginePlan(product_id=f"prod_{plan.policy_id}", plan_id=plan_id)

    def update_plan(self, call: EngineCall, plan: PlanSpec, current: EnginePlan) -> EnginePlan:
        if self.book.plans.get(current.plan_id) == plan.pricing:
            return current
        self.delete_plan(call, current)
        return self.create_plan(call, plan)

    def delete_plan(self, call: EngineCall, plan: EnginePlan) -> None:
        with self._lock:
            self.book.retired.add(plan.plan_id)

    def enable_monetization(
        self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierSpec]
    ) -> list[TierPlan]:
        answer = []
        with self._lock:
            for tier in tiers:
                plan_id = self._new("plan", call.subkey(tier.tier_name))
                self.book.plans[plan_id] = tier.plan.pricing
                self.book.retired.discard(plan_id)
                answer.append(TierPlan(tier.tier_name, f"prod_{api.api_id}", plan_id))
        return answer

    def disable_monetization(self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierPlan]) -> None:
        for tier in tiers:
            self.delete_plan(call, EnginePlan(tier.product_id, tier.plan_id))

    def create_customer(self, call: EngineCall, customer: CustomerSpec) -> str:
        with self._lock:
            customer_id = self._new("cus", call.key)
            self.book.customers[customer_id] = customer.name
            return customer_id

    def create_shared_customer(self, call: EngineCall, spec: SharedCustomerSpec) -> str:
        return self.create_customer(call, spec.customer)

    def delete_customer(self, call: EngineCall, customer_id: str, api: ApiSpec | None) -> None:
        with self._lock:
            self.book.customers.pop(customer_id, None)

    def create_subscription(self, call: EngineCall, spec: SubscriptionSpec) -> str:
        with self._lock:
            if spec.tier.plan_id in self.book.retired:
                raise EngineError(f"plan {spec.tier.plan_id} is retired")
            sub_id = self._new("sub", call.key)
            self.book.subscriptions[sub_id] = (spec.tier.plan_id, spec.start)
            return sub_id

    def cancel_subscription(self, call: EngineCall, subscription: SubscriptionRef, at: datetime) -> None:
        with self._lock:
            self.book.canceled[subscription.id] = at

    def resume_subscription(self, call: EngineCall, subscription: SubscriptionRef) -> None:
        with self._lock:
            self.book.canceled.pop(subscription.id, None)

    def publish_usage(
        self, call: EngineCall, subscription: SubscriptionRef, records: Sequence[UsageRecord]
    ) -> None:
        with self._lock:
            for record in records:  # a key seen before is a retry: counted once
                self.book.usage.setdefault(record.key, (subscription.id, record.quantity, record.window_end))

    def _invoice(self, subscription: SubscriptionRef, period: Period, status: str) -> EngineInvoice:
        plan_id, _ = self.book.subscriptions[subscription.id]
        calls = sum(
            n
            for sub, n, end in self.book.usage.values()
            if sub == subscription.id and period.start < end <= period.end
        )
        priced = price_period(self.book.plans[plan_id], calls)
        return invoice_of(f"in_{subscription.id}_{period.index}", status, period, priced)

    def preview_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, at: datetime
    ) -> EngineInvoice | None:
        with self._lock:
            if subscription.id not in self.book.subscriptions:
                return None
            _, start = self.book.subscriptions[subscription.id]
            end = self.book.canceled.get(subscription.id)
            if end is not None and at >= end:
                return None  # ended: its last invoice was made at the end
            period = period_at(start, subscription.billing_cycle, at)
            if end is not None and end < period.end:
                period = Period(period.index, period.start, end)
            return self._invoice(subscription, period, "draft")

    def period_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, period: Period
    ) -> EngineInvoice | None:
        with self._lock:
            return self._invoice(subscription, period, "open")

    def close(self) -> None:
        return None
