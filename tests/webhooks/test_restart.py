"""Deliveries come from a durable outbox: kill -9 of `tollway serve` mid-retry loses none, and
an event written while it is down is sent once it is back."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.support import add_api, add_app, add_policy, default_world, subscribe, wait_until
from tests.monetization.served import bearer, expect, sign_in, tollway_serve
from tests.support.rest import PUBLISHER
from tests.webhooks.receiver import receiver
from tollway.db.session import transaction
from tollway.models import Subscription
from tollway.runtime import Runtime
from tollway.subscriptions import service

HOOKS = f"{PUBLISHER}/webhooks"
FAST = {"TOLLWAY_WEBHOOKS__DISPATCH_INTERVAL": "0.2", "TOLLWAY_WEBHOOKS__RETRY_BASE": "2"}


def deliveries(http: httpx.Client, token: str, endpoint: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = expect(
        http.get(f"{HOOKS}/{endpoint}/deliveries", headers=bearer(token)), 200
    )["list"]
    return found


def test_kill_9_mid_retry_loses_no_delivery_and_sends_none_twice(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    world = default_world(runtime)
    add_policy(runtime, world, "Free")
    add_app(runtime, world, "app")
    for api in ("shop", "maps"):
        add_api(runtime, world, api, "http://127.0.0.1:9")
        subscribe(runtime, world, "app", api, "Free")
    data = tmp_path / "data"
    with receiver(failures=1) as hooks:
        with (
            tollway_serve(database_url, data, **FAST) as served,
            httpx.Client(base_url=served.url, timeout=30) as http,
        ):
            token = sign_in(http, "admin", "admin", "apim:api_publish apim:subscription_block")
            made = expect(http.post(HOOKS, json={"url": hooks.url}, headers=bearer(token)), 201)
            endpoint = made["endpointId"]
            params = {"subscriptionId": world.subs[("app", "shop")], "blockState": "BLOCKED"}
            block = f"{PUBLISHER}/subscriptions/block-subscription"
            expect(http.post(block, params=params, headers=bearer(token)), 200)
            # The first try fails (500) and is recorded; the retry is 2 s away when Tollway dies.
            wait_until(lambda: deliveries(http, token, endpoint)[0]["attempts"] == 1, 15, step=0.05)
            os.kill(served.pid, signal.SIGKILL)
        assert [r.answered for r in hooks.all()] == [500]
        # Meanwhile another node blocks the other subscription: its event waits in the outbox.
        with transaction(runtime.session_factory) as session:
            other = session.get(Subscription, world.subs[("app", "maps")])
            assert other is not None
            service.block(session, other, "BLOCKED")

        with (
            tollway_serve(database_url, data, **FAST) as served,
            httpx.Client(base_url=served.url, timeout=30) as http,
        ):
            token = sign_in(http, "admin", "admin", "apim:api_publish")
            wait_until(lambda: len(hooks.delivered()) == 2, 20, step=0.05)
            wait_until(lambda: all(d["status"] == "SUCCEEDED" for d in deliveries(http, token, endpoint)), 5)
            log = {d["eventId"]: d for d in deliveries(http, token, endpoint)}
        sent = [r.event for r in hooks.delivered()]
        assert {e["data"]["subscriptionId"] for e in sent} == set(world.subs.values())
        assert len({e["id"] for e in sent}) == 2 and len(hooks.all()) == 3  # nothing sent twice
        first = next(e["id"] for e in sent if e["data"]["subscriptionId"] == world.subs[("app", "shop")])
        assert [a["statusCode"] for a in log[first]["attemptLog"]] == [500, 200]
