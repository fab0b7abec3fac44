"""Requests racing for one subscription: the database decides which one wins.

Each request runs on its own thread with its own HTTP connection against the live server, so the
server works on them at once (one transaction each). Several control-plane processes may share a
database, so nothing here may rely on a lock inside one process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.subscriptions.test_subscriptions import SUBS, app_of, published_api, subscribe, workflows
from tests.support.identity import Caller
from tests.support.rest import PUBLISHER, RecordingHooks, config_version, expect
from tests.support.servers import ServerThread
from tollway.runtime import Runtime

PARALLEL = 8

Call = Callable[[httpx.Client], httpx.Response]


class SlowHooks(RecordingHooks):
    """A billing engine that takes its time: the racing requests overlap for sure."""

    def subscription_deleting(self, session: Any, subscription: Any) -> None:
        super().subscription_deleting(session, subscription)
        time.sleep(0.3)


def at_once(server: ServerThread, calls: list[Call]) -> list[httpx.Response]:
    """Send every call on a connection of its own, all released together; the responses in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Call) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            expect(client.get("/health"), 200)  # the connection is open before the race starts
            barrier.wait(timeout=30)
            return call(client)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def subscription_id(http: httpx.Client, publisher: Caller, subscriber: Caller) -> str:
    api_id = published_api(http, publisher)
    return str(expect(subscribe(http, subscriber, app_of(http, subscriber), api_id), 201)["subscriptionId"])


def unsubscribe(subscriber: Caller, subscription_id: str) -> Call:
    return lambda client: client.delete(f"{SUBS}/{subscription_id}", headers=subscriber.headers)


def block(publisher: Caller, subscription_id: str, state: str) -> Call:
    return lambda client: client.post(
        f"{PUBLISHER}/subscriptions/block-subscription",
        headers=publisher.headers,
        params={"subscriptionId": subscription_id, "blockState": state},
    )


def unblock(publisher: Caller, subscription_id: str) -> Call:
    return lambda client: client.post(
        f"{PUBLISHER}/subscriptions/unblock-subscription",
        headers=publisher.headers,
        params={"subscriptionId": subscription_id},
    )


def test_parallel_unsubscribes_delete_once(
    live_server: ServerThread,
    http: httpx.Client,
    subscriber: Caller,
    subscription_id: str,
    runtime: Runtime,
) -> None:
    hooks = SlowHooks()
    runtime.hooks = hooks
    before = config_version(runtime)

    responses = at_once(live_server, [unsubscribe(subscriber, subscription_id)] * PARALLEL)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [404] * (PARALLEL - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 404:
            assert response.json() == {
                "code": 404,
                "message": "Not Found",
                "description": f"subscription {subscription_id!r} not found",
            }
    assert hooks.calls == [("subscription_deleting", subscription_id)]
    expect(http.get(f"{SUBS}/{subscription_id}", headers=subscriber.headers), 404)
    assert config_version(runtime) > before


def test_blocking_while_unsubscribing_is_ordered(
    live_server: ServerThread,
    http: httpx.Client,
    publisher: Caller,
    subscriber: Caller,
    subscription_id: str,
    runtime: Runtime,
) -> None:
    """Each block/unblock comes wholly before the removal (200) or after it (404), never a 500."""
    hooks = SlowHooks()
    runtime.hooks = hooks
    changes: list[Call] = [
        block(publisher, subscription_id, "BLOCKED"),
        block(publisher, subscription_id, "PROD_ONLY_BLOCKED"),
        unblock(publisher, subscription_id),
    ] * 2
    calls = [unsubscribe(subscriber, subscription_id), *changes, unsubscribe(subscriber, subscription_id)]

    responses = at_once(live_server, calls)

    removals = sorted([responses[0].status_code, responses[-1].status_code])
    assert removals == [200, 404], [r.text for r in responses]
    for response in responses[1:-1]:
        assert response.status_code in (200, 404), response.text
    assert hooks.calls == [("subscription_deleting", subscription_id)]
    expect(http.get(f"{SUBS}/{subscription_id}", headers=subscriber.headers), 404)


def test_blocking_cannot_undo_a_pending_removal(
    live_server: ServerThread,
    http: httpx.Client,
    publisher: Caller,
    subscriber: Caller,
    subscription_id: str,
    runtime: Runtime,
) -> None:
    """With the approval workflow a removal marks the subscription DELETE_PENDING; a block that
    read it before must not overwrite that afterwards (a DELETE_PENDING one cannot be blocked)."""
    workflows(runtime, subscription_deletion="approval")
    changes: list[Call] = [
        block(publisher, subscription_id, "BLOCKED"),
        block(publisher, subscription_id, "PROD_ONLY_BLOCKED"),
        unblock(publisher, subscription_id),
    ] * 2
    calls = [unsubscribe(subscriber, subscription_id), *changes]

    responses = at_once(live_server, calls)

    assert responses[0].status_code == 202, responses[0].text
    for response in responses[1:]:
        assert response.status_code in (200, 409), response.text
    status = expect(http.get(f"{SUBS}/{subscription_id}", headers=subscriber.headers), 200)["status"]
    assert status == "DELETE_PENDING"
