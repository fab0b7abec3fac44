"""An engine that accepts everything and bills nothing (``[monetization] engine = "noop"``).

For instances that use Tollway for API management only, and as the smallest complete example of
the interface: every write answers a deterministic id derived from the call's idempotency key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from tollway.billing.contract import (
    ApiSpec,
    CustomerSpec,
    EngineCall,
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
)
from tollway.pricing.periods import Period


def _id(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class NoopEngine:
    name = "noop"
    transactional = True  # it keeps nothing, so there is nothing to compensate

    def __init__(self, setup: EngineSetup | None = None) -> None:
        self.setup = setup

    def create_plan(self, call: EngineCall, plan: PlanSpec) -> EnginePlan:
        return EnginePlan(product_id=_id("prod", call.key), plan_id=_id("plan", call.key))

    def update_plan(self, call: EngineCall, plan: PlanSpec, current: EnginePlan) -> EnginePlan:
        return current

    def delete_plan(self, call: EngineCall, plan: EnginePlan) -> None:
        return None

    def enable_monetization(
        self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierSpec]
    ) -> list[TierPlan]:
        return [
            TierPlan(
                tier.tier_name, _id("prod", call.subkey(api.api_id)), _id("plan", call.subkey(tier.tier_name))
            )
            for tier in tiers
        ]

    def disable_monetization(self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierPlan]) -> None:
        return None

    def create_customer(self, call: EngineCall, customer: CustomerSpec) -> str:
        return _id("cus", call.key)

    def create_shared_customer(self, call: EngineCall, spec: SharedCustomerSpec) -> str:
        return _id("cus", call.key)

    def delete_customer(self, call: EngineCall, customer_id: str, api: ApiSpec | None) -> None:
        return None

    def create_subscription(self, call: EngineCall, spec: SubscriptionSpec) -> str:
        return _id("sub", call.key)

    def cancel_subscription(self, call: EngineCall, subscription: SubscriptionRef, at: datetime) -> None:
        return None

    def resume_subscription(self, call: EngineCall, subscription: SubscriptionRef) -> None:
        return None

    def publish_usage(
        self, call: EngineCall, subscription: SubscriptionRef, records: Sequence[UsageRecord]
    ) -> None:
        return None

    def preview_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, at: datetime
    ) -> EngineInvoice | None:
        return None

    def period_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, period: Period
    ) -> EngineInvoice | None:
        return None

    def close(self) -> None:
        return None
