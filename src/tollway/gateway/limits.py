"""Business-plan limits: the quota per window and the burst rate, per subscription.

Fixed windows (:mod:`tollway.pricing.windows`) aligned to the epoch in UTC (a per-minute window
starts at :00 seconds, a per-day window at midnight UTC) and to calendar months for month/year
units, so every gateway process and node agrees on where a window starts and ``Retry-After`` is
the time left in it. A lone gateway process keeps its counters in its own memory (this module);
the worker processes of one gateway share theirs (:mod:`tollway.gateway.shared_limits`). Separate
nodes count apart: each enforces the full limit on its own share of the traffic, unless they
share counters in Redis (:mod:`tollway.gateway.redis_limits`, ``[gateway] limits = "redis"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from tollway.gateway.snapshot import Plan
from tollway.pricing.windows import window_end

BYTE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}

# What ``admit`` answers besides 0.0 (pass) and the seconds until a refused call would pass:
PENDING = -1.0  # not known yet: ``admit_later`` decides (a limiter that asks Redis for a lease)
UNAVAILABLE = -2.0  # the limits cannot be checked now (Redis away, ``fail_closed``): answer 503


class Counter:
    """One subscription's counters."""

    __slots__ = ("burst_end", "burst_used", "bytes_used", "quota_end", "quota_used")

    def __init__(self) -> None:
        self.quota_end = 0.0
        self.quota_used = 0
        self.bytes_used = 0
        self.burst_end = 0.0
        self.burst_used = 0


def retry_after(seconds: float) -> int:
    """Whole seconds a client should wait (never 0: it would invite an immediate retry)."""
    return max(1, math.ceil(seconds - 1e-9))


class Limiter:
    def __init__(self) -> None:
        self.counters: dict[str, Counter] = {}
        # Whether the last refusal was the quota (else the burst rate).
        self.quota_refused = False

    def admit(self, subscription_id: str, plan: Plan, now: float) -> float:
        """Count one call; 0.0 when it may pass, else the seconds until it would."""
        counter = self.counters.get(subscription_id)
        if counter is None:
            counter = self.counters[subscription_id] = Counter()
        if plan.quota or plan.quota_bytes:
            if now >= counter.quota_end:
                counter.quota_end = window_end(plan.quota_window, now)
                counter.quota_used = 0
                counter.bytes_used = 0
            if plan.stop_on_quota and (
                (plan.quota and counter.quota_used >= plan.quota)
                or (plan.quota_bytes and counter.bytes_used >= plan.quota_bytes)
            ):
                self.quota_refused = True
                return counter.quota_end - now
        if plan.burst:
            if now >= counter.burst_end:
                counter.burst_end = (now // plan.burst_seconds + 1) * plan.burst_seconds
                counter.burst_used = 0
            if counter.burst_used >= plan.burst:
                self.quota_refused = False
                return counter.burst_end - now
            counter.burst_used += 1
        counter.quota_used += 1
        return 0.0

    def admit_later(self, subscription_id: str, plan: Plan, decided: Callable[[float], None]) -> None:
        """Decide a call that ``admit`` answered ``PENDING``; ``decided`` gets what ``admit`` would.

        Only a limiter that asks elsewhere answers ``PENDING``; this one decides at once.
        """
        decided(self.admit(subscription_id, plan, time.time()))

    def add_bytes(self, subscription_id: str, amount: int) -> None:
        """Bandwidth used by an answered call (checked against BandwidthLimit plans)."""
        counter = self.counters.get(subscription_id)
        if counter is not None:
            counter.bytes_used += amount
