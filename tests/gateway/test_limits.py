"""Plan limits hold at their window edges, Retry-After says when the next call passes."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from tests.gateway.support import (
    Backend,
    GatewayThread,
    World,
    add_app,
    add_policy,
    bearer,
    body_of,
    subscribe,
    wait_until,
)
from tollway.gateway.limits import Limiter, retry_after
from tollway.gateway.snapshot import Plan
from tollway.models.usage import UsageEventRow
from tollway.pricing.windows import Window, window_end, window_of
from tollway.runtime import Runtime

MINUTE = 60.0


def plan(
    quota: int = 0, window: Window | None = None, burst: int = 0, stop: bool = True, quota_bytes: int = 0
) -> Plan:
    return Plan(
        id="p",
        name="p",
        quota=quota,
        quota_bytes=quota_bytes,
        quota_window=window or Window(seconds=MINUTE),
        stop_on_quota=stop,
        burst=burst,
        burst_seconds=1.0,
        billing_plan="FREE",
    )


def test_burst_limit_refuses_the_extra_call_and_reopens_at_the_next_second() -> None:
    limiter, rate = Limiter(), plan(burst=5)
    base = 1_700_000_000.0
    assert [limiter.admit("s", rate, base + 0.2) for _ in range(5)] == [0.0] * 5
    wait = limiter.admit("s", rate, base + 0.2)
    assert wait == pytest.approx(0.8)
    assert retry_after(wait) == 1
    assert not limiter.quota_refused
    assert limiter.admit("s", rate, base + 0.999999) > 0  # still the same window
    assert limiter.admit("s", rate, base + 1.0) == 0.0  # the edge opens a new one
    assert limiter.admit("other", rate, base + 0.5) == 0.0  # counters are per subscription


def test_quota_holds_to_the_last_microsecond_of_its_window() -> None:
    limiter, quota = Limiter(), plan(quota=10)
    start = 1_700_000_040.0  # a minute boundary
    assert start % MINUTE == 0
    for n in range(10):
        assert limiter.admit("s", quota, start + 59 + n * 0.01) == 0.0
    wait = limiter.admit("s", quota, start + 59.5)
    assert wait == pytest.approx(0.5)
    assert limiter.quota_refused
    assert retry_after(wait) == 1
    assert limiter.admit("s", quota, start + MINUTE - 1e-6) > 0
    assert limiter.admit("s", quota, start + MINUTE) == 0.0


def test_retry_after_counts_whole_seconds_up() -> None:
    limiter, quota = Limiter(), plan(quota=1)
    start = 1_700_000_040.0
    limiter.admit("s", quota, start + 0.25)
    assert retry_after(limiter.admit("s", quota, start + 0.25)) == 60  # 59.75 s left
    assert retry_after(limiter.admit("s", quota, start + 58.0)) == 2
    assert retry_after(limiter.admit("s", quota, start + 59.0)) == 1


def test_metered_plans_may_go_over_their_quota() -> None:
    limiter, metered = Limiter(), plan(quota=3, stop=False)
    assert all(limiter.admit("s", metered, 100.0 + n) == 0.0 for n in range(10))


def test_bandwidth_quota_counts_bytes_of_answered_calls() -> None:
    limiter, bandwidth = Limiter(), plan(quota_bytes=1000)
    assert limiter.admit("s", bandwidth, 10.0) == 0.0
    limiter.add_bytes("s", 999)
    assert limiter.admit("s", bandwidth, 10.5) == 0.0
    limiter.add_bytes("s", 1)
    assert limiter.admit("s", bandwidth, 11.0) > 0


@pytest.mark.parametrize(
    ("unit", "count", "moment", "end"),
    [
        ("min", 1, datetime(2026, 5, 3, 10, 7, 30), datetime(2026, 5, 3, 10, 8)),
        ("hour", 1, datetime(2026, 5, 3, 10, 7, 30), datetime(2026, 5, 3, 11, 0)),
        ("day", 1, datetime(2026, 5, 3, 23, 59, 59), datetime(2026, 5, 4)),
        ("month", 1, datetime(2026, 1, 31, 12), datetime(2026, 2, 1)),
        ("month", 1, datetime(2026, 12, 31, 23), datetime(2027, 1, 1)),
        ("months", 3, datetime(2026, 5, 17), datetime(2026, 7, 1)),  # quarters from the epoch
        ("year", 1, datetime(2026, 5, 17), datetime(2027, 1, 1)),
    ],
)
def test_windows_align_to_the_clock_and_the_calendar(
    unit: str, count: int, moment: datetime, end: datetime
) -> None:
    window = window_of(unit, count)
    assert window is not None
    at = moment.replace(tzinfo=UTC).timestamp()
    assert window_end(window, at) == end.replace(tzinfo=UTC).timestamp()


def test_unknown_units_are_reported() -> None:
    assert window_of("fortnight", 1) is None


# ------------------------------------------------------------------------------------ end to end


def after_next_boundary(seconds: float, margin: float = 0.05) -> None:
    """Sleep until just after the next multiple of ``seconds`` (epoch time)."""
    now = time.time()
    time.sleep((now // seconds + 1) * seconds - now + margin)


def test_gateway_answers_429_with_retry_after_and_lets_calls_through_again(
    runtime: Runtime, backend: Backend, world: World
) -> None:
    add_policy(runtime, world, "Burst3", rate_limit_count=3, rate_limit_time_unit="sec")
    add_policy(runtime, world, "Quota5", request_count=5, time_unit="sec", unit_time=2)
    add_app(runtime, world, "bursty")
    add_app(runtime, world, "quota")
    subscribe(runtime, world, "bursty", "shop", "Burst3")
    subscribe(runtime, world, "quota", "shop", "Quota5")
    with GatewayThread(runtime) as gateway, httpx.Client(base_url=gateway.url) as client:
        burst = bearer(world.tokens["bursty"])
        after_next_boundary(1.0)
        assert [client.get("/shop/1.0.0/status/200", headers=burst).status_code for _ in range(3)] == [
            200
        ] * 3
        refused = client.get("/shop/1.0.0/status/200", headers=burst)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert body_of(refused)["code"] == 429
        assert "rate limit" in body_of(refused)["description"]
        time.sleep(float(refused.headers["retry-after"]))
        assert client.get("/shop/1.0.0/status/200", headers=burst).status_code == 200

        quota = bearer(world.tokens["quota"])
        after_next_boundary(2.0)
        assert [client.get("/shop/1.0.0/status/200", headers=quota).status_code for _ in range(5)] == [
            200
        ] * 5
        refused = client.get("/shop/1.0.0/status/200", headers=quota)
        left = 2.0 - time.time() % 2.0
        assert refused.status_code == 429
        assert "quota" in body_of(refused)["description"]
        assert int(refused.headers["retry-after"]) == math.ceil(left)
        after_next_boundary(2.0)
        assert client.get("/shop/1.0.0/status/200", headers=quota).status_code == 200


def test_metered_plan_goes_over_quota_and_every_call_is_billable(
    runtime: Runtime, backend: Backend, world: World
) -> None:
    add_policy(
        runtime,
        world,
        "Metered",
        request_count=3,
        time_unit="min",
        stop_on_quota_reach=False,
        billing_plan="COMMERCIAL",
    )
    add_app(runtime, world, "metered")
    subscribe(runtime, world, "metered", "shop", "Metered")
    with GatewayThread(runtime) as gateway, httpx.Client(base_url=gateway.url) as client:
        statuses = [
            client.get("/shop/1.0.0/status/200", headers=bearer(world.tokens["metered"])).status_code
            for _ in range(8)
        ]
        assert statuses == [200] * 8

        def billable() -> int:
            with runtime.session_factory() as session:
                return int(session.scalar(select(func.count()).where(UsageEventRow.billable.is_(True))) or 0)

        wait_until(lambda: billable() == 8, 10)
