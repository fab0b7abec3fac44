"""What the engine needs to know about a Stripe subscription, read once and cached.

A subscription's billing anchor, interval, item, price, meter and customer never change (Tollway
never edits a subscription's items), so they are cached per subscription id. Billing periods are
computed from the anchor exactly as Stripe computes them (and as Tollway does from its own
start): period *k* is ``[boundary(anchor, k), boundary(anchor, k + 1))``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tollway.billing.contract import EngineError
from tollway.billing.stripe.catalog import Catalog, v1
from tollway.billing.stripe.clients import Target
from tollway.billing.stripe.mapping import moment, stamp
from tollway.pricing.periods import boundary, period_at

LIVE = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")


@dataclass(frozen=True, slots=True)
class SubscriptionFacts:
    id: str
    anchor: int
    interval: str
    item: str
    price: str
    customer: str
    metered: bool
    event_name: str | None

    def period_start(self, index: int) -> int:
        """Start (epoch seconds) of Stripe's billing period ``index`` of this subscription."""
        return stamp(boundary(moment(self.anchor), self.interval, index))

    def period_end(self, index: int) -> int:
        return self.period_start(index + 1)

    def index_at(self, at: datetime) -> int:
        """Index of Stripe's period that holds ``at``."""
        return period_at(moment(self.anchor), self.interval, moment(stamp(at))).index


def read_subscription(catalog: Catalog, target: Target, subscription_id: str) -> Any:
    """The subscription as Stripe has it now, or None if Stripe does not know it."""
    return catalog.wire.maybe(
        "read a subscription",
        target,
        lambda: v1(target).subscriptions.retrieve(subscription_id, None, target.options()),
    )


class FactsCache:
    def __init__(self, catalog: Catalog, size: int = 10_000) -> None:
        self.catalog = catalog
        self.size = size
        self._facts: OrderedDict[str, SubscriptionFacts] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, target: Target, subscription_id: str, current: Any = None) -> SubscriptionFacts:
        with self._lock:
            found = self._facts.get(subscription_id)
            if found is not None:
                self._facts.move_to_end(subscription_id)
                return found
        sub = current if current is not None else read_subscription(self.catalog, target, subscription_id)
        if sub is None:
            raise EngineError(f"Stripe has no subscription {subscription_id}")
        facts = self._facts_of(target, sub)
        with self._lock:
            self._facts[subscription_id] = facts
            while len(self._facts) > self.size:
                self._facts.popitem(last=False)
        return facts

    def _facts_of(self, target: Target, sub: Any) -> SubscriptionFacts:
        items = sub["items"]["data"]
        if len(items) != 1:
            raise EngineError(
                f"Stripe subscription {sub['id']} has {len(items)} items; Tollway made it with one"
            )
        item = items[0]
        price = item["price"]
        recurring = price["recurring"] or {}
        metered = recurring.get("usage_type") == "metered"
        meter = recurring.get("meter")
        event_name = self.catalog.meter_event_name(target, str(meter)) if metered and meter else None
        return SubscriptionFacts(
            id=str(sub["id"]),
            anchor=int(sub["billing_cycle_anchor"]),
            interval=str(recurring.get("interval") or "month"),
            item=str(item["id"]),
            price=str(price["id"]),
            customer=str(sub["customer"]),
            metered=metered,
            event_name=event_name,
        )
