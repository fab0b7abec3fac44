"""Outgoing webhooks: signed deliveries from the outbox, retried with backoff, a delivery log,
manual redelivery, and subscribers' endpoints kept off the operator's network."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx
from sqlalchemy import select

from tests.gateway.support import World, add_api, add_app, add_policy, subscribe
from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import PUBLISHER, STORE, expect
from tests.webhooks.receiver import receiver
from tests.webhooks.support import dispatch_for, dispatch_until, webhook_settings
from tollway.db.session import transaction
from tollway.identity.roles import ROLE_SUBSCRIBER
from tollway.models import WebhookEndpoint
from tollway.runtime import Runtime
from tollway.webhooks import signing

HOOKS = f"{PUBLISHER}/webhooks"


def subscription_of(runtime: Runtime, subscriber: Caller) -> tuple[World, str]:
    world = World(tenant_id=subscriber.tenant_id, owner_id=subscriber.user_id)
    add_policy(runtime, world, "Free")
    add_api(runtime, world, "shop", "http://127.0.0.1:9")
    add_app(runtime, world, "app")
    return world, subscribe(runtime, world, "app", "shop", "Free")


def block(http: httpx.Client, publisher: Caller, sub: str) -> None:
    params = {"subscriptionId": sub, "blockState": "BLOCKED"}
    url = f"{PUBLISHER}/subscriptions/block-subscription"
    expect(http.post(url, headers=publisher.headers, params=params), 200)


def unblock(http: httpx.Client, publisher: Caller, sub: str) -> None:
    url = f"{PUBLISHER}/subscriptions/unblock-subscription"
    expect(http.post(url, headers=publisher.headers, params={"subscriptionId": sub}), 200)


def log_of(http: httpx.Client, caller: Caller, endpoint: str, **params: str) -> dict[str, Any]:
    found: dict[str, Any] = expect(
        http.get(f"{HOOKS}/{endpoint}/deliveries", headers=caller.headers, params=params), 200
    )
    return found


def test_a_failing_endpoint_is_retried_with_backoff_and_the_log_shows_every_attempt(
    http: httpx.Client, runtime: Runtime, publisher: Caller, subscriber: Caller
) -> None:
    webhook_settings(runtime, retry_base=0.5)
    _, sub = subscription_of(runtime, subscriber)
    with receiver(failures=2) as hooks, receiver() as invoices:
        wanted = {"url": hooks.url, "eventTypes": ["subscription.blocked", "subscription.unblocked"]}
        made = expect(http.post(HOOKS, headers=publisher.headers, json=wanted), 201)
        secret, endpoint = made["secret"], made["endpointId"]
        assert secret.startswith("whsec_") and made["eventTypes"] == wanted["eventTypes"]
        # An endpoint for other events gets none of these.
        other = {"url": invoices.url, "eventTypes": ["invoice.finalized"]}
        expect(http.post(HOOKS, headers=publisher.headers, json=other), 201)
        # The secret is shown once: not by a read, a list, nor stored in clear.
        for read in (f"{HOOKS}/{endpoint}", HOOKS):
            answer = http.get(read, headers=publisher.headers)
            assert answer.status_code == 200 and secret not in answer.text
        with transaction(runtime.session_factory) as session:
            stored = session.scalars(select(WebhookEndpoint.secret_encrypted)).all()
            assert stored and all(secret not in value for value in stored)

        block(http, publisher, sub)
        dispatch_until(runtime, lambda: len(hooks.delivered()) == 1)
        tries = hooks.all()
        assert [t.answered for t in tries] == [500, 500, 200]
        # Backoff: retry_base after the first failure, twice that after the second.
        assert tries[1].at - tries[0].at >= 0.45
        assert tries[2].at - tries[1].at >= 0.95
        event = tries[0].event
        assert event["type"] == "subscription.blocked" and event["id"].startswith("evt_")
        assert event["data"]["subscriptionId"] == sub and event["data"]["status"] == "BLOCKED"
        assert event["data"]["previousStatus"] == "UNBLOCKED"
        for attempt in tries:  # the same event, signed each time
            assert attempt.body == tries[0].body
            assert attempt.headers["tollway-event-id"] == event["id"]
            assert attempt.headers["tollway-event-type"] == "subscription.blocked"
            assert attempt.verifies(secret)
        assert not tries[0].verifies("whsec_someone-else")
        tampered = tries[0].body.replace(b"BLOCKED", b"UNBLOCKED")
        assert not signing.verify(secret, tries[0].headers["tollway-signature"], tampered)

        shown = log_of(http, publisher, endpoint)
        assert shown["count"] == 1
        delivery = shown["list"][0]
        assert (delivery["status"], delivery["attempts"], delivery["lastStatusCode"]) == ("SUCCEEDED", 3, 200)
        assert delivery["eventId"] == event["id"] and delivery["deliveredAt"] is not None
        assert [a["statusCode"] for a in delivery["attemptLog"]] == [500, 500, 200]
        assert log_of(http, publisher, endpoint, status="FAILED")["count"] == 0
        bad = http.get(f"{HOOKS}/{endpoint}/deliveries", headers=publisher.headers, params={"status": "LOST"})
        assert bad.status_code == 400 and "status" in bad.json()["description"]

        # Sent again by hand: the same event id, so a receiver can tell it is a repeat.
        again = f"{HOOKS}/{endpoint}/deliveries/{delivery['deliveryId']}/redeliver"
        assert expect(http.post(again, headers=publisher.headers), 200)["status"] == "PENDING"
        dispatch_until(runtime, lambda: len(hooks.delivered()) == 2)
        assert hooks.delivered()[1].event["id"] == event["id"]
        assert log_of(http, publisher, endpoint)["list"][0]["attempts"] == 4
        missing = f"{HOOKS}/{endpoint}/deliveries/no-such-delivery/redeliver"
        assert http.post(missing, headers=publisher.headers).status_code == 404

        unblock(http, publisher, sub)
        dispatch_until(runtime, lambda: len(hooks.delivered()) == 3)
        assert hooks.delivered()[2].event["type"] == "subscription.unblocked"
        assert log_of(http, publisher, endpoint)["count"] == 2
        dispatch_for(runtime, 0.5)
        assert invoices.all() == []
        assert len(hooks.all()) == 5


def test_a_delivery_failing_past_the_retry_window_is_failed_until_sent_again_by_hand(
    http: httpx.Client, runtime: Runtime, publisher: Caller, subscriber: Caller
) -> None:
    webhook_settings(runtime, retry_base=0.2, retry_for=1.0)
    _, sub = subscription_of(runtime, subscriber)
    with receiver(failures=3) as hooks:
        made = expect(http.post(HOOKS, headers=publisher.headers, json={"url": hooks.url}), 201)
        block(http, publisher, sub)

        def failed() -> bool:
            return bool(log_of(http, publisher, made["endpointId"], status="FAILED")["count"] == 1)

        dispatch_until(runtime, failed)
        # Tried at 0, 0.2 and 0.6 s when the dispatcher is on time (fewer when a loaded machine
        # runs it late); the next try (1.4 s) would be past the 1 s window, so none is planned.
        delivery = log_of(http, publisher, made["endpointId"])["list"][0]
        attempts = delivery["attempts"]
        assert 1 <= attempts <= 3 and (delivery["nextAttemptAt"], delivery["lastStatusCode"]) == (None, 500)
        times = [datetime.fromisoformat(a["attemptedAt"]) for a in delivery["attemptLog"]]
        gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
        assert all(gap >= 0.2 * 2**n - 0.01 for n, gap in enumerate(gaps)), gaps  # the backoff held
        dispatch_for(runtime, 1.0)
        assert len(hooks.all()) == attempts and hooks.delivered() == []  # nothing after FAILED
        again = f"{HOOKS}/{made['endpointId']}/deliveries/{delivery['deliveryId']}/redeliver"
        expect(http.post(again, headers=publisher.headers), 200)
        dispatch_until(runtime, lambda: len(hooks.delivered()) == 1)
        assert log_of(http, publisher, made["endpointId"], status="SUCCEEDED")["count"] == 1


def test_subscribers_endpoints_stay_off_internal_addresses_unless_the_operator_allows_them(
    http: httpx.Client, runtime: Runtime, publisher: Caller, subscriber: Caller, identity: OrmIdentity
) -> None:
    world, sub = subscription_of(runtime, subscriber)
    app_hooks = f"{STORE}/applications/{world.apps['app']}/webhooks"
    with receiver() as hooks:
        for url in (
            hooks.url,
            "http://localhost:9/hook",
            "http://10.1.2.3/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9/hook",
        ):
            refused = http.post(app_hooks, headers=subscriber.headers, json={"url": url})
            assert refused.status_code == 400 and "url" in refused.json()["description"], (url, refused.text)
        for body in ({"url": "ftp://example.com/x"}, {"url": "https://example.com", "eventTypes": ["nope"]}):
            answer = http.post(app_hooks, headers=subscriber.headers, json=body)
            assert answer.status_code == 400, answer.text
        # The tenant's own endpoints are the operator's: any address.
        expect(http.post(HOOKS, headers=publisher.headers, json={"url": hooks.url}), 201)
        # Another subscriber cannot see or add endpoints of this application.
        eve = identity.user("eve", [ROLE_SUBSCRIBER])
        assert http.get(app_hooks, headers=eve.headers).status_code == 404
        assert http.post(app_hooks, headers=eve.headers, json={"url": "https://a.example"}).status_code == 404

        webhook_settings(runtime, allow_internal_targets=True)
        made = expect(http.post(app_hooks, headers=subscriber.headers, json={"url": hooks.url}), 201)
        assert made["applicationId"] == world.apps["app"]
        # Checked again when sending: once disallowed, nothing goes out and the log says why.
        webhook_settings(runtime, allow_internal_targets=False, retry_base=60)
        block(http, publisher, sub)
        deliveries = f"{app_hooks}/{made['endpointId']}/deliveries"

        def tried() -> bool:
            return bool(expect(http.get(deliveries, headers=subscriber.headers), 200)["list"][0]["attempts"])

        dispatch_until(runtime, lambda: len(hooks.delivered()) == 1 and tried())
        assert len(hooks.delivered()) == 1  # the tenant's endpoint only
        shown = expect(http.get(deliveries, headers=subscriber.headers), 200)["list"][0]
        assert shown["status"] == "PENDING" and "non-public address" in shown["lastError"]
        assert shown["attemptLog"][0]["statusCode"] is None
