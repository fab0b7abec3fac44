"""Prepaid across gateway nodes (``[gateway] limits = "redis"``): one wallet, every node, exact."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.gateway.redis_support import RedisServer
from tests.gateway.support import Backend, World, bearer, wait_until
from tests.gateway.test_prepaid import NOW, PICO, prepaid_sub, prepaid_world, settle_when_stored
from tests.gateway.test_redis_limits import Nodes, redis_config
from tollway.gateway.limits import PENDING, UNAVAILABLE
from tollway.gateway.prepaid import REFUSED
from tollway.gateway.redis_limits import RECHECK
from tollway.gateway.redis_wallets import RedisWalletGuard
from tollway.gateway.snapshot import SubscriptionEntry, Tariff, WalletState
from tollway.runtime import Runtime

UNIT = int(Decimal("0.0004") * PICO)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def decide(guard: RedisWalletGuard, sub: SubscriptionEntry, clock: Clock) -> float:
    """What the proxy does: admit now, or once the lease asked of Redis arrives."""
    answer = guard.admit(sub, clock())
    if answer != PENDING:
        return answer
    decided: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    guard.admit_later(sub, decided.set_result)
    return await decided


def test_nodes_share_one_wallet_exactly_and_unused_leases_go_back(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(NOW)
        guards = [RedisWalletGuard(redis_server.url, clock=clock) for _ in range(3)]
        wallet = WalletState("w", "USD", balance=int(Decimal("0.25") * PICO))
        sub = prepaid_sub("s", wallet, Tariff(per_request=UNIT))
        # Calls spread over the nodes, several waiting at once on each: never more than paid for
        # (a node refuses while the others still hold unused calls in their leases)...
        answers = await asyncio.gather(*(decide(guards[n % 3], sub, clock) for n in range(700)))
        admitted = sum(a > 0 for a in answers)
        assert 500 <= admitted <= 625  # how many wait in others' leases depends on timing
        assert set(answers) - {REFUSED} == {answers[0]}  # the admitted ones name their period
        # ...and a node that stops gives back what it did not use: the count is what was admitted.
        for guard in guards:
            await guard.close()
        with redis_server.client() as client:
            fields = client.hgetall("tollway:prepaid:{w}")
        assert [int(v) for v in fields.values()] == [admitted]
        # The calls given back are admitted elsewhere: 625 in all, exactly.
        clock.now += 1.0
        fresh = RedisWalletGuard(redis_server.url, clock=clock)
        more = [await decide(fresh, sub, clock) for _ in range(100)]
        assert admitted + sum(a > 0 for a in more) == 625
        assert more[-1] == REFUSED and fresh.refused == (0, UNIT)
        await fresh.close()

    asyncio.run(main())


def test_a_lease_held_by_an_idle_node_is_returned_for_the_busy_one(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(NOW)
        idle, busy = (RedisWalletGuard(redis_server.url, clock=clock) for _ in range(2))
        wallet = WalletState("w", "USD", balance=100 * UNIT)
        sub = prepaid_sub("s", wallet, Tariff(per_request=UNIT))
        assert await decide(idle, sub, clock) > 0  # takes a lease of 100 // 8 = 12 calls
        assert idle.leases["s"].left == 11
        admitted = [await decide(busy, sub, clock) > 0 for _ in range(100)]
        assert admitted.count(True) == 88  # 100 - 12 held by the idle node
        upkeep = asyncio.create_task(idle.maintain_forever())
        clock.now += 1.0  # idle for longer than LEASE_IDLE: the 11 left go back
        await asyncio.sleep(0.3)
        clock.now += RECHECK  # the busy node asks again once its refusal has lapsed
        assert [await decide(busy, sub, clock) > 0 for _ in range(12)].count(True) == 11
        upkeep.cancel()
        await idle.close()
        await busy.close()

    asyncio.run(main())


def test_redis_away_answers_prepaid_calls_503_and_counting_resumes(redis_server: RedisServer) -> None:
    async def main() -> None:
        clock = Clock(NOW)
        guard = RedisWalletGuard(redis_server.url, clock=clock)
        wallet = WalletState("w", "USD", balance=10 * UNIT)
        sub = prepaid_sub("s", wallet, Tariff(per_request=UNIT))
        assert await decide(guard, sub, clock) > 0
        guard.leases["s"].left = 0  # spent: the next call must ask Redis
        redis_server.kill()
        assert await decide(guard, sub, clock) == UNAVAILABLE
        assert guard.admit(sub, clock()) == UNAVAILABLE  # without asking again
        redis_server.start()  # empty: the counts are lost
        reset = asyncio.Event()
        guard.on_reset = reset.set  # the gateway reloads its snapshot (stored calls) then
        upkeep = asyncio.create_task(guard.maintain_forever())
        for _ in range(100):
            await asyncio.sleep(0.1)
            if guard.shared:
                break
        assert await decide(guard, sub, clock) == UNAVAILABLE  # not on counts that start at 0
        await asyncio.wait_for(reset.wait(), 5)
        assert guard.admit(sub, clock()) == UNAVAILABLE
        guard.reloaded()
        assert await decide(guard, sub, clock) > 0
        upkeep.cancel()
        await guard.close()

    asyncio.run(main())


def test_two_gateway_nodes_on_redis_admit_exactly_what_one_wallet_pays_for(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path, redis_server: RedisServer
) -> None:
    prepaid_world(runtime, world, "0.25")
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    with Nodes(runtime, tmp_path, redis_config(redis_server)) as gateways:

        def run(node: int) -> None:
            url = f"http://127.0.0.1:{gateways.ports[node % 2]}/shop/1.0.0/status/200"
            with httpx.Client(headers=bearer(world.tokens["payer"]), timeout=20) as client:
                for _ in range(20):
                    status = client.get(url).status_code
                    with lock:
                        statuses[status] += 1

        threads = [threading.Thread(target=run, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert statuses[200] <= 625

        # Leases a node did not use go back within LEASE_IDLE; calls go on until both refuse.
        def both_refuse() -> bool:
            answers = [gateways.call(n, world.tokens["payer"]).status_code for n in range(2)]
            statuses.update(answers)
            return answers == [402, 402]

        wait_until(both_refuse, 10, step=0.3)
        assert statuses[200] == 625 and set(statuses) == {200, 402}
        assert backend.sent[200] == 625
        settle_when_stored(runtime, world, Decimal(0))  # the wallet paid 625 calls: 0.25, not a cent more
        redis_server.kill()
        assert gateways.call(0, world.tokens["payer"]).status_code in (402, 503)
        redis_server.start()
        wait_until(lambda: gateways.call(1, world.tokens["payer"]).status_code == 402, 15)
    assert all("Traceback" not in out for out in gateways.outputs), gateways.outputs
