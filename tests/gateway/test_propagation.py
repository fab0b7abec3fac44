"""A control-plane change is enforced by a running gateway within one second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from tests.gateway.support import (
    GatewayThread,
    World,
    add_app,
    bearer,
    change,
    new_access_token,
    revoke_key,
    revoke_token,
    subscribe,
)
from tests.support.identity import OrmIdentity
from tests.support.servers import ServerThread
from tollway.models import SubscriptionPolicy
from tollway.runtime import Runtime

PUBLISHER = "/api/am/publisher/v1"
LIMIT = 1.0


def status_of(gateway: GatewayThread, headers: dict[str, str], path: str = "/shop/1.0.0/status/200") -> int:
    return httpx.get(f"{gateway.url}{path}", headers=headers).status_code


def takes_effect(probe: Callable[[], int], expected: int, limit: float = 3.0) -> float:
    """Seconds from now until ``probe()`` answers ``expected`` (polling every 10 ms)."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if probe() == expected:
            return time.monotonic() - began
        time.sleep(0.01)
    raise AssertionError(f"still not {expected} after {limit}s")


def test_blocking_and_unblocking_a_subscription_through_the_publisher_api(
    runtime: Runtime, live_server: ServerThread, gateway: GatewayThread, world: World
) -> None:
    admin = OrmIdentity(runtime).login("admin")
    token = bearer(world.tokens["app1"])
    sub = world.subs[("app1", "shop")]
    assert status_of(gateway, token) == 200
    with httpx.Client(base_url=live_server.url, headers=admin.headers) as control:
        blocked = control.post(
            f"{PUBLISHER}/subscriptions/block-subscription",
            params={"subscriptionId": sub, "blockState": "BLOCKED"},
        )
        assert blocked.status_code == 200, blocked.text
        assert takes_effect(lambda: status_of(gateway, token), 403) < LIMIT
        assert httpx.get(f"{gateway.url}/shop/1.0.0/status/200", headers=token).json()["description"] == (
            "The subscription is blocked"
        )
        unblocked = control.post(
            f"{PUBLISHER}/subscriptions/unblock-subscription", params={"subscriptionId": sub}
        )
        assert unblocked.status_code == 200, unblocked.text
        assert takes_effect(lambda: status_of(gateway, token), 200) < LIMIT


def test_retiring_an_api_through_the_publisher_api(
    runtime: Runtime, live_server: ServerThread, gateway: GatewayThread, world: World
) -> None:
    admin = OrmIdentity(runtime).login("admin")
    token = bearer(world.tokens["app1"])
    with httpx.Client(base_url=live_server.url, headers=admin.headers) as control:
        lifecycle = f"{PUBLISHER}/apis/change-lifecycle"
        deprecated = control.post(lifecycle, params={"apiId": world.apis["shop"], "action": "Deprecate"})
        assert deprecated.status_code == 200, deprecated.text
        time.sleep(0.5)
        assert status_of(gateway, token) == 200  # deprecated APIs still serve their subscribers
        retired = control.post(lifecycle, params={"apiId": world.apis["shop"], "action": "Retire"})
        assert retired.status_code == 200, retired.text
        assert takes_effect(lambda: status_of(gateway, token), 404) < LIMIT


def test_revoking_an_api_key_or_a_token(runtime: Runtime, gateway: GatewayThread, world: World) -> None:
    key = {"apikey": world.keys["app1"]}
    assert status_of(gateway, key) == 200
    revoke_key(runtime, world.keys["app1"])
    assert takes_effect(lambda: status_of(gateway, key), 401) < LIMIT

    token = bearer(world.tokens["app1"])
    assert status_of(gateway, token) == 200
    revoke_token(runtime, world.tokens["app1"])
    assert takes_effect(lambda: status_of(gateway, token), 401) < LIMIT


def test_a_new_subscription_and_a_plan_edit(runtime: Runtime, gateway: GatewayThread, world: World) -> None:
    add_app(runtime, world, "late")
    late = bearer(world.tokens["late"])
    takes_effect(lambda: status_of(gateway, late), 403)
    subscribe(runtime, world, "late", "shop", "Open")
    assert takes_effect(lambda: status_of(gateway, late), 200) < LIMIT

    # The plan now allows one call per minute: the second call within the minute is refused.
    change(runtime, SubscriptionPolicy, world.policies["Open"], request_count=1, time_unit="min")
    token = bearer(world.tokens["app1"])

    def twice() -> int:
        status_of(gateway, token)
        return status_of(gateway, token)

    assert takes_effect(twice, 429) < LIMIT


def test_a_token_issued_after_start_works_at_once_and_garbage_is_looked_up_in_batches(
    runtime: Runtime, gateway: GatewayThread, world: World
) -> None:
    fresh = new_access_token(runtime, world, "app1")  # the token endpoint does not bump the counter
    assert status_of(gateway, bearer(fresh)) == 200
    assert gateway.gateway is not None
    queries_before = gateway.gateway.lookups

    async def flood() -> list[bytes]:
        """100 connections, each pipelining 4 requests with distinct unknown tokens."""

        async def one(worker: int) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
            writer.write(
                b"".join(
                    f"GET /shop/1.0.0/status/200 HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer junk-{worker}-{n}\r\n"
                    f"{'Connection: close' if n == 3 else 'X-N: 1'}\r\n\r\n".encode()
                    for n in range(4)
                )
            )
            answer = await reader.read()
            writer.close()
            return answer

        return await asyncio.gather(*(one(w) for w in range(100)))

    answers = asyncio.run(flood())
    assert [answer.count(b"HTTP/1.1 401 ") for answer in answers] == [4] * 100
    # 400 unknown tokens arriving together cost a handful of queries, not 400: the misses
    # waiting at the same time share one query, and queries are at least 10 ms apart.
    assert gateway.gateway.lookups - queries_before <= 20
    # An unknown token is remembered: asking again costs nothing.
    again = gateway.gateway.lookups
    assert status_of(gateway, bearer("junk-0-0")) == 401
    assert gateway.gateway.lookups == again
