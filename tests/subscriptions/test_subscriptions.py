"""Subscriptions: subscribing rules in the developer portal; blocking in the publisher portal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import PUBLISHER, STORE, RecordingHooks, config_version, expect, new_api
from tollway.config import WorkflowSettings
from tollway.identity.roles import ROLE_SUBSCRIBER
from tollway.runtime import Runtime

SUBS = f"{STORE}/subscriptions"


def published_api(http: httpx.Client, publisher: Caller, name: str = "Pizza", *actions: str) -> str:
    api = expect(
        http.post(
            f"{PUBLISHER}/apis",
            headers=publisher.headers,
            json=new_api(name=name, context=f"/{name.lower()}", policies=["Gold", "Silver"]),
        ),
        201,
    )
    for action in ("Publish", *actions):
        expect(
            http.post(
                f"{PUBLISHER}/apis/change-lifecycle",
                headers=publisher.headers,
                params={"apiId": api["id"], "action": action},
            ),
            200,
        )
    return str(api["id"])


def app_of(http: httpx.Client, caller: Caller, name: str = "App") -> str:
    return str(
        expect(http.post(f"{STORE}/applications", headers=caller.headers, json={"name": name}), 201)[
            "applicationId"
        ]
    )


def subscribe(
    http: httpx.Client, caller: Caller, app_id: str, api_id: str, plan: str = "Gold"
) -> httpx.Response:
    return http.post(
        SUBS,
        headers=caller.headers,
        json={"applicationId": app_id, "apiId": api_id, "throttlingPolicy": plan},
    )


def workflows(runtime: Runtime, **values: Any) -> None:
    runtime.settings = runtime.settings.model_copy(update={"workflows": WorkflowSettings(**values)})


@pytest.fixture
def api_id(http: httpx.Client, publisher: Caller) -> str:
    return published_api(http, publisher)


def test_subscribe_read_list_and_unsubscribe(
    http: httpx.Client, subscriber: Caller, api_id: str, runtime: Runtime
) -> None:
    hooks = RecordingHooks()
    runtime.hooks = hooks
    app_id = app_of(http, subscriber)
    before = config_version(runtime)
    response = subscribe(http, subscriber, app_id, api_id, "Silver")
    created = expect(response, 201)
    assert response.headers["location"] == f"{SUBS}/{created['subscriptionId']}"
    assert created == {
        "subscriptionId": created["subscriptionId"],
        "applicationId": app_id,
        "apiId": api_id,
        "throttlingPolicy": "Silver",
        "status": "UNBLOCKED",
    }
    assert config_version(runtime) > before
    assert hooks.calls == [("subscription_created", created["subscriptionId"])]
    url = f"{SUBS}/{created['subscriptionId']}"
    assert expect(http.get(url, headers=subscriber.headers), 200) == created
    for params in ({}, {"applicationId": app_id}, {"apiId": api_id}):
        body = expect(http.get(SUBS, headers=subscriber.headers, params=params), 200)
        assert body["list"] == [created] and body["pagination"]["total"] == 1
    assert expect(http.get(SUBS, headers=subscriber.headers, params={"apiId": "other"}), 200)["count"] == 0
    expect(http.get(SUBS, headers=subscriber.headers, params={"applicationId": "other"}), 404)

    expect(http.delete(url, headers=subscriber.headers), 200)
    expect(http.get(url, headers=subscriber.headers), 404)
    assert hooks.calls[-1] == ("subscription_deleting", created["subscriptionId"])


def test_one_subscription_per_application_and_api(
    http: httpx.Client, subscriber: Caller, api_id: str
) -> None:
    app_id = app_of(http, subscriber)
    expect(subscribe(http, subscriber, app_id, api_id), 201)
    response = subscribe(http, subscriber, app_id, api_id, "Silver")
    assert response.status_code == 409 and "already subscribed" in response.json()["description"]
    expect(subscribe(http, subscriber, app_of(http, subscriber, "Second"), api_id), 201)


def test_the_plan_must_be_offered_by_the_api(http: httpx.Client, subscriber: Caller, api_id: str) -> None:
    app_id = app_of(http, subscriber)
    response = subscribe(http, subscriber, app_id, api_id, "Bronze")
    assert response.status_code == 400
    assert (
        "throttlingPolicy" in response.json()["description"]
        and "Gold, Silver" in response.json()["description"]
    )
    expect(subscribe(http, subscriber, app_id, api_id, "NoSuchPlan"), 400)
    assert expect(http.get(SUBS, headers=subscriber.headers), 200)["count"] == 0


def test_only_published_apis_take_subscriptions(
    http: httpx.Client, publisher: Caller, subscriber: Caller
) -> None:
    app_id = app_of(http, subscriber)
    created = expect(http.post(f"{PUBLISHER}/apis", headers=publisher.headers, json=new_api(name="New")), 201)
    expect(subscribe(http, subscriber, app_id, created["id"]), 404)
    deprecated = published_api(http, publisher, "Old", "Deprecate")
    response = subscribe(http, subscriber, app_id, deprecated)
    assert response.status_code == 409 and "DEPRECATED" in response.json()["description"]
    blocked = published_api(http, publisher, "Blocked", "Block")
    expect(subscribe(http, subscriber, app_id, blocked), 404)
    expect(subscribe(http, subscriber, app_id, "no-such-api"), 404)


def test_the_application_must_be_the_callers(
    http: httpx.Client, subscriber: Caller, api_id: str, identity: OrmIdentity
) -> None:
    other = identity.user("other", [ROLE_SUBSCRIBER])
    response = subscribe(http, other, app_of(http, subscriber), api_id)
    assert response.status_code == 404 and "application" in response.json()["description"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"apiId": "x", "throttlingPolicy": "Gold"}, "applicationId"),
        ({"applicationId": "x", "apiId": 1, "throttlingPolicy": "Gold"}, "apiId"),
        ({"applicationId": "x", "apiId": "y", "throttlingPolicy": "Go/ld"}, "throttlingPolicy"),
        ({"applicationId": "x", "apiId": "y", "throttlingPolicy": "Gold", "status": "BLOCKED"}, "status"),
    ],
)
def test_bad_subscription_bodies(http: httpx.Client, subscriber: Caller, body: Any, field: str) -> None:
    response = http.post(SUBS, headers=subscriber.headers, json=body)
    assert response.status_code == 400 and field in response.json()["description"]


def test_publishers_list_block_and_unblock(
    http: httpx.Client, publisher: Caller, subscriber: Caller, api_id: str, runtime: Runtime
) -> None:
    app_id = app_of(http, subscriber, "Orders")
    created = expect(subscribe(http, subscriber, app_id, api_id), 201)
    sub_id = created["subscriptionId"]
    listing = expect(
        http.get(f"{PUBLISHER}/subscriptions", headers=publisher.headers, params={"apiId": api_id}), 200
    )
    assert listing["list"] == [
        {
            "subscriptionId": sub_id,
            "applicationInfo": {"applicationId": app_id, "name": "Orders", "subscriber": "dev"},
            "throttlingPolicy": "Gold",
            "subscriptionStatus": "UNBLOCKED",
        }
    ]
    assert expect(http.get(f"{PUBLISHER}/subscriptions", headers=publisher.headers), 200)["count"] == 1
    expect(http.get(f"{PUBLISHER}/subscriptions", headers=publisher.headers, params={"apiId": "nope"}), 404)

    def block(state: str) -> httpx.Response:
        return http.post(
            f"{PUBLISHER}/subscriptions/block-subscription",
            headers=publisher.headers,
            params={"subscriptionId": sub_id, "blockState": state},
        )

    before = config_version(runtime)
    assert expect(block("prod_only_blocked"), 200)["subscriptionStatus"] == "PROD_ONLY_BLOCKED"
    assert config_version(runtime) > before
    assert expect(block("BLOCKED"), 200)["subscriptionStatus"] == "BLOCKED"
    assert expect(http.get(f"{SUBS}/{sub_id}", headers=subscriber.headers), 200)["status"] == "BLOCKED"
    bad = block("FROZEN")
    assert bad.status_code == 400 and "blockState" in bad.json()["description"]
    unblocked = http.post(
        f"{PUBLISHER}/subscriptions/unblock-subscription",
        headers=publisher.headers,
        params={"subscriptionId": sub_id},
    )
    assert expect(unblocked, 200)["subscriptionStatus"] == "UNBLOCKED"
    assert expect(http.get(f"{SUBS}/{sub_id}", headers=subscriber.headers), 200)["status"] == "UNBLOCKED"
    missing = http.post(
        f"{PUBLISHER}/subscriptions/block-subscription",
        headers=publisher.headers,
        params={"subscriptionId": sub_id},
    )
    assert missing.status_code == 400 and "blockState" in missing.json()["description"]


def test_held_subscriptions_cannot_be_blocked(
    http: httpx.Client, publisher: Caller, subscriber: Caller, api_id: str, runtime: Runtime
) -> None:
    workflows(runtime, subscription_creation="approval")
    created = expect(subscribe(http, subscriber, app_of(http, subscriber), api_id), 201)
    response = http.post(
        f"{PUBLISHER}/subscriptions/block-subscription",
        headers=publisher.headers,
        params={"subscriptionId": created["subscriptionId"], "blockState": "BLOCKED"},
    )
    assert response.status_code == 409 and "ON_HOLD" in response.json()["description"]
