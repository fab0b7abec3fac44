"""Plan limits shared by every gateway node through Redis: leases of a window's allowance.

The limiter's tests run several limiters ("nodes") in one event loop against a real
``redis-server``; the end-to-end tests run two real ``tollway gateway`` processes on one database
and one Redis, kill Redis in the middle of traffic and bring it back.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.redis_support import RedisServer
from tests.gateway.support import Backend, World, add_app, add_policy, bearer, subscribe, wait_until
from tests.gateway.test_limits import MINUTE, plan
from tests.gateway.test_process import TOLLWAY, start_gateway, wait_serving
from tests.support.servers import free_port
from tollway.gateway.limits import PENDING, UNAVAILABLE, Limiter
from tollway.gateway.redis_limits import RedisLimiter
from tollway.gateway.snapshot import Plan
from tollway.pricing.windows import Window
from tollway.runtime import Runtime

START = 1_700_000_040.0  # a minute boundary


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


class Clock:
    """The time the limiters see (the windows are the clock's; Redis' key TTLs follow it)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def decide(limiter: RedisLimiter, sub: str, plan: Plan, clock: Callable[[], float]) -> float:
    """What the proxy does: admit now, or when the lease the limiter asked Redis for arrives."""
    wait = limiter.admit(sub, plan, clock())
    if wait != PENDING:
        return wait
    decided: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    limiter.admit_later(sub, plan, decided.set_result)
    return await decided


def nodes(
    server: RedisServer, count: int, clock: Callable[[], float], **options: object
) -> list[RedisLimiter]:
    return [RedisLimiter(server.url, clock=clock, **options) for _ in range(count)]  # type: ignore[arg-type]


async def close(limiters: list[RedisLimiter]) -> None:
    for limiter in limiters:
        await limiter.close()


# ----------------------------------------------------------------------------- the limiter


def test_two_nodes_admit_exactly_a_small_quota_between_them(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(START + 10)
        first, second = nodes(redis_server, 2, clock)
        quota = plan(quota=20)
        waits = [await decide((first, second)[n % 2], "s", quota, clock) for n in range(40)]
        assert waits.count(0.0) == 20
        assert waits[:20] == [0.0] * 20  # every call passes until the allowance is used...
        assert waits[20:] == [pytest.approx(50.0)] * 20  # ...then Retry-After is the window's end
        assert first.quota_refused and second.quota_refused
        clock.now = START + MINUTE  # the next window: a fresh allowance
        assert [await decide(second, "s", quota, clock) for _ in range(20)] == [0.0] * 20
        assert await decide(first, "s", quota, clock) == pytest.approx(MINUTE)
        await close([first, second])

    asyncio.run(main())


def test_many_nodes_calling_at_once_never_exceed_the_quota(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(START + 1)
        limiters = nodes(redis_server, 4, clock)
        quota = plan(quota=1000)
        picks = [random.choice(limiters) for _ in range(3000)]
        waits = await asyncio.gather(*(decide(node, "s", quota, clock) for node in picks))
        assert waits.count(0.0) == 1000
        # Every node served calls: the allowance was spread in leases, not taken by one.
        served = Counter(id(node) for node, wait in zip(picks, waits, strict=True) if wait == 0.0)
        assert len(served) == 4, served
        await close(limiters)
        (fields,) = redis_server.limit_keys().values()
        assert fields == {"taken": "1000", "leased": "0"}

    asyncio.run(main())


def test_a_burst_rate_holds_across_nodes(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(START + 0.1)
        limiters = nodes(redis_server, 3, clock)
        rate = plan(burst=5)
        waits = [await decide(limiters[n % 3], "s", rate, clock) for n in range(8)]
        assert waits[:5] == [0.0] * 5
        assert waits[5:] == [pytest.approx(0.9)] * 3
        assert not limiters[2].quota_refused
        clock.now = START + 1.0
        assert [await decide(limiters[n % 3], "s", rate, clock) for n in range(5)] == [0.0] * 5
        assert await decide(limiters[0], "s", rate, clock) > 0
        assert await decide(limiters[0], "other", rate, clock) == 0.0  # per subscription
        await close(limiters)

    asyncio.run(main())


def test_quota_and_burst_together_refuse_with_the_quota_first(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(START + 30.5)
        first, second = nodes(redis_server, 2, clock)
        both = plan(quota=6, burst=4)
        waits = [await decide((first, second)[n % 2], "s", both, clock) for n in range(5)]
        assert waits[:4] == [0.0] * 4 and waits[4] == pytest.approx(0.5)  # the burst
        assert not second.quota_refused
        clock.now += 1
        waits = [await decide((first, second)[n % 2], "s", both, clock) for n in range(4)]
        assert waits[:2] == [0.0] * 2 and waits[2] == pytest.approx(28.5)  # the quota
        assert first.quota_refused
        await close([first, second])

    asyncio.run(main())


def test_metered_plans_go_over_their_quota_without_asking_redis(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(START)
        (node,) = nodes(redis_server, 1, clock)
        metered = plan(quota=2, stop=False)
        assert [node.admit("s", metered, clock()) for _ in range(5)] == [0.0] * 5
        assert redis_server.limit_keys() == {}
        await node.close()

    asyncio.run(main())


def test_a_bandwidth_quota_holds_across_nodes(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(START + 1)
        first, second = nodes(redis_server, 2, clock)
        bandwidth = plan(quota_bytes=1000)
        assert await decide(first, "s", bandwidth, clock) == 0.0
        first.add_bytes("s", 600)
        assert await decide(second, "s", bandwidth, clock) == 0.0
        second.add_bytes("s", 400)
        await first.settled()
        await second.settled()
        # 1000 bytes used between them: neither node admits another call this window.
        assert await decide(first, "s", bandwidth, clock) == pytest.approx(59.0)
        assert await decide(second, "s", bandwidth, clock) == pytest.approx(59.0)
        clock.now = START + MINUTE
        assert await decide(second, "s", bandwidth, clock) == 0.0
        await close([first, second])

    asyncio.run(main())


def test_leases_come_from_redis_in_blocks_and_what_is_left_goes_back(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(START + 15)
        first, second = nodes(redis_server, 2, clock)
        big = plan(quota=100_000)
        assert await decide(first, "s", big, clock) == 0.0
        (key,) = redis_server.limit_keys()
        assert key == f"tollway:limits:{{s}}:q:{int((START + MINUTE) * 1000)}"
        leased = int(redis_server.limit_keys()[key]["leased"])
        assert 1 < leased <= 100_000 // 8  # a block, at most an eighth of what was left
        # Admitting within the lease asks nothing of Redis (a plain call: no await).
        assert [first.admit("s", big, clock()) for _ in range(9)] == [0.0] * 9
        # The window's key lives as long as the window (plus a margin), no longer.
        with redis_server.client() as client:
            assert 45_000 <= client.pttl(key) <= 45_000 + 5_000
        await first.close()  # what is left goes back: only the 10 calls stay taken
        assert redis_server.limit_keys()[key] == {"taken": "10", "leased": "0"}
        assert await decide(second, "s", big, clock) == 0.0
        await second.close()
        assert redis_server.limit_keys()[key] == {"taken": "11", "leased": "0"}

    asyncio.run(main())


def test_an_idle_lease_is_returned_so_that_other_nodes_can_use_it(redis_server: RedisServer) -> None:
    async def main() -> None:
        first, second = nodes(redis_server, 2, time.time)
        hourly = plan(quota=16, window=Window(seconds=3600.0))
        keepers = [asyncio.create_task(node.maintain_forever()) for node in (first, second)]
        assert await decide(first, "s", hourly, time.time) == 0.0  # first holds a lease of 2
        waits = [await decide(second, "s", hourly, time.time) for _ in range(16)]
        assert waits.count(0.0) == 14  # first's lease is not free yet: 14 for second
        await asyncio.sleep(1.0)  # first stays idle: its lease goes back to Redis
        assert await decide(second, "s", hourly, time.time) == 0.0  # the one first did not use
        assert await decide(second, "s", hourly, time.time) > 0
        for task in keepers:
            task.cancel()
        await close([first, second])

    asyncio.run(main())


def test_fail_open_counts_on_each_node_alone_and_shares_again_when_redis_returns(
    redis_server: RedisServer,
) -> None:
    async def main() -> None:
        first, second = (RedisLimiter(redis_server.url, fallback=Limiter()) for _ in range(2))
        keepers = [asyncio.create_task(node.maintain_forever()) for node in (first, second)]
        hourly = plan(quota=4, window=Window(seconds=3600.0))
        assert await decide(first, "a", hourly, time.time) == 0.0
        redis_server.kill()
        # Each node on its own counters: the whole allowance on each.
        for node in (first, second):
            waits = [await decide(node, "b", hourly, time.time) for _ in range(5)]
            assert waits.count(0.0) == 4, waits
        redis_server.start()
        deadline = time.monotonic() + 10
        while not (first.shared and second.shared):
            assert time.monotonic() < deadline, "the limiters did not return to Redis"
            await asyncio.sleep(0.05)
        # Shared again: a new subscription's allowance holds across both.
        waits = [await decide((first, second)[n % 2], "c", hourly, time.time) for n in range(8)]
        assert waits.count(0.0) == 4
        for task in keepers:
            task.cancel()
        await close([first, second])

    asyncio.run(main())


def test_fail_closed_refuses_limited_calls_while_redis_is_away(redis_server: RedisServer) -> None:
    async def main() -> None:
        (node,) = nodes(redis_server, 1, time.time, on_unavailable="fail_closed")
        keeper = asyncio.create_task(node.maintain_forever())
        hourly = plan(quota=4, window=Window(seconds=3600.0))
        assert await decide(node, "a", hourly, time.time) == 0.0
        redis_server.kill()
        assert await decide(node, "b", hourly, time.time) == UNAVAILABLE
        assert node.admit("a", hourly, time.time()) == UNAVAILABLE  # a lease in hand is dropped too
        assert node.admit("x", plan(quota=2, stop=False), time.time()) == 0.0  # nothing to enforce
        redis_server.start()
        deadline = time.monotonic() + 10
        while not node.shared:
            assert time.monotonic() < deadline, "the limiter did not return to Redis"
            await asyncio.sleep(0.05)
        assert await decide(node, "b", hourly, time.time) == 0.0
        keeper.cancel()
        await node.close()

    asyncio.run(main())


# ------------------------------------------------------------------------------- end to end


def redis_config(server: RedisServer, limits: str = "redis", on_unavailable: str = "fail_open") -> str:
    return (
        f'[gateway]\nlimits = "{limits}"\n'
        f'[redis]\nurl = "{server.url}"\non_unavailable = "{on_unavailable}"\n'
        "[metering]\nflush_interval = 0.2\n"
    )


class Nodes:
    """``count`` real ``tollway gateway`` processes on one database, each with its own data folder."""

    def __init__(self, runtime: Runtime, tmp_path: Path, extra: str, count: int = 2) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.processes = []
        for number, port in enumerate(self.ports):
            folder = tmp_path / f"node{number}"
            folder.mkdir()
            self.processes.append(start_gateway(runtime, folder, port, workers=1, extra=extra))
        self.outputs: list[str] = []

    def __enter__(self) -> Nodes:
        for port, process in zip(self.ports, self.processes, strict=True):
            wait_serving(port, process)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                out, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            self.outputs.append(out.decode())

    def call(self, number: int, token: str, path: str = "/shop/1.0.0/status/200") -> httpx.Response:
        port = self.ports[number % len(self.ports)]
        return httpx.get(f"http://127.0.0.1:{port}{path}", headers=bearer(token), timeout=10)


def inside_one_minute(needed: float = 20.0) -> None:
    """Wait, if need be, so that the next ``needed`` seconds lie in one clock minute."""
    left = MINUTE - time.time() % MINUTE
    if left < needed:
        time.sleep(left + 0.05)


def seeded_limits(runtime: Runtime, world: World) -> None:
    add_policy(runtime, world, "Twenty", request_count=20, time_unit="min")
    add_policy(runtime, world, "Burst10", rate_limit_count=10, rate_limit_time_unit="min")
    for app, policy in (("quota", "Twenty"), ("bursty", "Burst10")):
        add_app(runtime, world, app)
        subscribe(runtime, world, app, "shop", policy)


@pytest.mark.parametrize(
    ("limits", "quota_admitted", "burst_admitted"), [("redis", 20, 10), ("local", 40, 20)]
)
def test_two_gateway_nodes_hold_a_plan_exactly_on_redis_and_each_its_own_locally(
    runtime: Runtime,
    backend: Backend,
    world: World,
    tmp_path: Path,
    redis_server: RedisServer,
    limits: str,
    quota_admitted: int,
    burst_admitted: int,
) -> None:
    """20 calls per minute, 40 calls over two nodes: 20 pass on Redis, 20 on each node locally."""
    seeded_limits(runtime, world)
    with Nodes(runtime, tmp_path, redis_config(redis_server, limits)) as gateways:
        inside_one_minute()
        timed = []
        for n in range(40):
            left_before = MINUTE - time.time() % MINUTE
            answer = gateways.call(n, world.tokens["quota"])
            timed.append((answer, left_before, MINUTE - time.time() % MINUTE))
        statuses = Counter(answer.status_code for answer, _, _ in timed)
        assert statuses == Counter({200: quota_admitted, 429: 40 - quota_admitted})
        for refused, left_before, left_after in timed:
            if refused.status_code == 429:
                # Retry-After: the whole seconds left in the minute when the gateway answered.
                retry = int(refused.headers["retry-after"])
                assert math.ceil(left_after) <= retry <= math.ceil(left_before)
                assert "quota" in refused.json()["description"]
        bursts = Counter(gateways.call(n, world.tokens["bursty"]).status_code for n in range(30))
        assert bursts == Counter({200: burst_admitted, 429: 30 - burst_admitted})
    assert all("Traceback" not in out for out in gateways.outputs), gateways.outputs
    if limits == "redis":
        keys = redis_server.limit_keys()
        assert sorted(fields["taken"] for fields in keys.values()) == ["10", "20"]
    else:
        assert redis_server.limit_keys() == {}


def test_redis_killed_mid_run_fail_open_keeps_serving_then_counts_shared_again(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path, redis_server: RedisServer
) -> None:
    add_policy(runtime, world, "Roomy", request_count=100_000, time_unit="hour")
    add_policy(runtime, world, "Ten", request_count=10, time_unit="hour")
    for app, policy in (("busy", "Roomy"), ("later", "Ten")):
        add_app(runtime, world, app)
        subscribe(runtime, world, app, "shop", policy)
    with Nodes(runtime, tmp_path, redis_config(redis_server)) as gateways:
        before = Counter(gateways.call(n, world.tokens["busy"]).status_code for n in range(20))
        assert before == {200: 20}
        redis_server.kill()
        during = Counter(gateways.call(n, world.tokens["busy"]).status_code for n in range(100))
        assert during == {200: 100}  # fail_open: every call answered, counted by each node
        redis_server.start()

        def shared_again() -> bool:
            # Every node back on Redis (each finds out by its own PING), not only the first.
            healths = [gateways.call(n, "probe", "/_tollway/health").json() for n in range(2)]
            return (
                all(h["limits"]["shared"] for h in healths)
                and gateways.call(0, world.tokens["busy"]).status_code == 200
                and bool(redis_server.limit_keys())
            )

        wait_until(shared_again, 15)
        later = Counter(gateways.call(n, world.tokens["later"]).status_code for n in range(20))
        assert later == {200: 10, 429: 10}  # one allowance across both nodes again
    for out in gateways.outputs:
        assert out.count("unreachable") == 1, out  # logged once per node, not per call
        assert "reachable again" in out, out


def test_redis_killed_mid_run_fail_closed_refuses_with_503_until_it_returns(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path, redis_server: RedisServer
) -> None:
    add_policy(runtime, world, "Ten", request_count=10, time_unit="hour")
    add_app(runtime, world, "limited")
    subscribe(runtime, world, "limited", "shop", "Ten")
    extra = redis_config(redis_server, on_unavailable="fail_closed")
    with Nodes(runtime, tmp_path, extra, count=1) as gateway:
        assert gateway.call(0, world.tokens["limited"]).status_code == 200
        redis_server.kill()
        refused = [gateway.call(0, world.tokens["limited"]) for _ in range(5)]
        assert [answer.status_code for answer in refused] == [503] * 5
        assert "limit" in refused[0].json()["description"]
        assert gateway.call(0, world.tokens["app1"]).status_code == 200  # an unlimited plan passes
        redis_server.start()
        wait_until(lambda: gateway.call(0, world.tokens["limited"]).status_code == 200, 15)
    assert gateway.outputs[0].count("unreachable") == 1, gateway.outputs[0]


def test_config_check_shows_the_limits_and_redis_settings(tmp_path: Path) -> None:
    env = {
        "TOLLWAY_GATEWAY__LIMITS": "redis",
        "TOLLWAY_REDIS__URL": "redis://:s3cret@10.0.0.5:6380/2",
        "PATH": "/usr/bin:/bin",
    }
    found = subprocess.run(
        [*TOLLWAY, "config", "check", "--data-dir", str(tmp_path)], capture_output=True, env=env, check=True
    )
    shown = json.loads(found.stdout)
    assert shown["gateway"]["limits"] == "redis"
    assert shown["redis"] == {"url": "redis://:***@10.0.0.5:6380/2", "on_unavailable": "fail_open"}
    bad = subprocess.run(
        [*TOLLWAY, "config", "check"],
        capture_output=True,
        env={**env, "TOLLWAY_GATEWAY__LIMITS": "memcached"},
        text=True,
    )
    assert bad.returncode != 0 and "TOLLWAY_GATEWAY__LIMITS" in bad.stderr
