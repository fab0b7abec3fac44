"""Bounded retries of Stripe requests: exponential backoff with jitter, within a time budget.

The SDK's own retries are switched off (``max_network_retries=0``) so that every retry goes
through here, where the whole operation has one budget (``[monetization.stripe]
max_retry_seconds``) instead of a number of attempts of unknown length.

Retried: 429 (rate limit), 409 (lock timeout), 5xx and connection errors, unless Stripe answers
``Stripe-Should-Retry: false``; anything Stripe marks ``Stripe-Should-Retry: true`` is retried
too. Each wait is ``min(cap, base * 2**attempt)`` scaled by a random factor in [0.5, 1)
("equal jitter": many workers that failed together do not retry together), and no wait is
started that would end after the budget: the last error is raised instead. Safe only because
every request that creates something carries an idempotency key (or, for meter events, an
identifier), so a repeated request never does the work twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import stripe

log = logging.getLogger(__name__)

T = TypeVar("T")


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def is_retryable(error: stripe.StripeError) -> bool:
    """Whether Stripe (or the network) says that the same request may succeed later."""
    advice = _header(error.headers, "Stripe-Should-Retry")
    if advice == "false":
        return False
    if advice == "true":
        return True
    if isinstance(error, stripe.APIConnectionError):
        return bool(getattr(error, "should_retry", True))
    if isinstance(error, stripe.RateLimitError):
        return True
    status = error.http_status or 0
    return status == 409 or status >= 500


def _retry_after(error: stripe.StripeError) -> float:
    value = _header(error.headers, "Retry-After")
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


@dataclass
class RetryPolicy:
    """How long one operation may keep retrying, and how the waits grow."""

    budget: float = 30.0
    base: float = 0.25
    cap: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2.0**attempt) * (0.5 + self.jitter() / 2)

    def run(self, request: Callable[[], T], what: str = "Stripe request") -> T:
        """``request()``, retried while the error is retryable and the budget lasts."""
        started = self.clock()
        attempt = 0
        while True:
            try:
                return request()
            except stripe.StripeError as error:
                if not is_retryable(error):
                    raise
                wait = max(self.delay(attempt), _retry_after(error))
                if self.clock() - started + wait > self.budget:
                    log.warning("%s failed after %d attempts: %s", what, attempt + 1, type(error).__name__)
                    raise
                attempt += 1
                log.info("%s: %s; retry %d in %.2fs", what, type(error).__name__, attempt, wait)
                self.sleep(wait)
