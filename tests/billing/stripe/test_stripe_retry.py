"""Retries of Stripe requests: exponential backoff with jitter, never past the time budget.

The policy runs on a simulated clock here (its ``sleep``/``clock``/``jitter`` parameters), so the
waits can be checked exactly; tests/billing/stripe/test_stripe_usage_invoices.py checks the same
policy over real HTTP against the fake.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import stripe

from tollway.billing.stripe.retry import RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _policy(clock: Clock, budget: float, jitter: float = 0.0) -> RetryPolicy:
    return RetryPolicy(budget=budget, sleep=clock.sleep, clock=lambda: clock.now, jitter=lambda: jitter)


def _failing(error: Callable[[], stripe.StripeError], times: int) -> Callable[[], str]:
    calls = {"n": 0}

    def request() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error()
        return "done"

    return request


def unavailable() -> stripe.StripeError:
    return stripe.APIError("Stripe is temporarily unavailable.", http_status=503)


def rate_limited(retry_after: str | None = None) -> stripe.StripeError:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return stripe.RateLimitError("Request rate limit exceeded.", http_status=429, headers=headers)


def test_waits_double_from_a_quarter_second_up_to_the_cap_with_equal_jitter() -> None:
    clock = Clock()
    assert _policy(clock, budget=1000).run(_failing(unavailable, 8)) == "done"
    assert clock.waits == [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # jitter 0: half of 0.25*2^n, cap 8
    clock = Clock()
    _policy(clock, budget=1000, jitter=0.999).run(_failing(unavailable, 3))
    assert clock.waits == pytest.approx([0.25, 0.5, 1.0], rel=1e-3)  # jitter ~1: the full wait


def test_no_wait_starts_that_would_end_after_the_budget() -> None:
    clock = Clock()
    with pytest.raises(stripe.APIError):
        _policy(clock, budget=3, jitter=0.5).run(_failing(unavailable, 1000))
    assert sum(clock.waits) <= 3 and len(clock.waits) == 4  # 0.1875+0.375+0.75+1.5; 3.0 more would pass 3 s


def test_retry_after_is_honoured_within_the_budget() -> None:
    clock = Clock()
    _policy(clock, budget=10).run(_failing(lambda: rate_limited("2"), 1))
    assert clock.waits == [2.0]
    clock = Clock()
    with pytest.raises(stripe.RateLimitError):
        _policy(clock, budget=10).run(_failing(lambda: rate_limited("60"), 1))
    assert clock.waits == []  # Stripe asks for longer than the budget allows: fail now


def test_refusals_and_should_retry_false_are_not_retried() -> None:
    def refused() -> stripe.StripeError:
        return stripe.InvalidRequestError("No such price", "items[0][price]", http_status=400)

    def final() -> stripe.StripeError:
        return stripe.APIError(
            "An unknown error occurred", http_status=500, headers={"Stripe-Should-Retry": "false"}
        )

    for error in (refused, final):
        clock = Clock()
        with pytest.raises(type(error())):
            _policy(clock, budget=10).run(_failing(error, 1))
        assert clock.waits == []
