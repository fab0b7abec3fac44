"""Spend caps on postpaid subscriptions: set by their subscriber, enforced exactly by the gateway."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx

from tests.gateway.support import (
    Backend,
    GatewayThread,
    World,
    add_api,
    add_app,
    add_policy,
    bearer,
    body_of,
    subscribe,
    wait_until,
)
from tests.support.identity import Caller
from tests.support.rest import STORE, config_version, expect
from tollway.runtime import Runtime

POSTPAID = {
    "billing_plan": "COMMERCIAL",
    "monetization_plan": "DynamicRate",
    "price_per_request": Decimal("0.0004"),
    "currency": "USD",
    "billing_cycle": "month",
}


def cap_url(sub_id: str) -> str:
    return f"{STORE}/subscriptions/{sub_id}/spend-cap"


def capped_world(runtime: Runtime, subscriber: Caller, backend: Backend) -> World:
    world = World(tenant_id=subscriber.tenant_id, owner_id=subscriber.user_id)
    add_policy(runtime, world, "Metered", **POSTPAID)
    add_policy(runtime, world, "Free")
    add_policy(runtime, world, "Prepaid", **POSTPAID, billing_mode="PREPAID")
    add_api(runtime, world, "shop", backend.url)
    for plan in ("Metered", "Free", "Prepaid"):
        add_app(runtime, world, plan.lower())
        subscribe(runtime, world, plan.lower(), "shop", plan)
    return world


def test_a_hard_cap_stops_calls_at_the_cap_and_raising_it_lets_them_through(
    http: httpx.Client, subscriber: Caller, runtime: Runtime
) -> None:
    backend = Backend().start()
    try:
        world = capped_world(runtime, subscriber, backend)
        sub = world.subs[("metered", "shop")]
        before = config_version(runtime)
        cap = expect(http.put(cap_url(sub), headers=subscriber.headers, json={"amount": "0.002"}), 200)
        assert config_version(runtime) > before
        assert cap["amount"] == "0.002" and cap["mode"] == "HARD" and cap["spent"] == "0.00"
        assert cap["currency"] == "USD" and cap["setBy"] == "dev"
        with (
            GatewayThread(runtime) as gateway,
            httpx.Client(headers=bearer(world.tokens["metered"])) as client,
        ):
            url = f"{gateway.url}/shop/1.0.0/status/200"
            statuses = [client.get(url).status_code for _ in range(8)]
            assert statuses == [200] * 5 + [402] * 3  # 5 x 0.0004 = 0.002, exactly
            refused = client.get(url)
            assert "spend cap of 0.002 USD" in body_of(refused)["description"]
            assert cap_url(sub) in body_of(refused)["description"]
            assert backend.sent[200] == 5

            def stored() -> bool:
                seen = expect(http.get(cap_url(sub), headers=subscriber.headers), 200)
                return bool(seen["spent"] == "0.002")

            wait_until(stored, 10, step=0.1)
            # Below what the period has cost: refused, naming the field, nothing changed.
            low = http.put(cap_url(sub), headers=subscriber.headers, json={"amount": "0.001"})
            assert low.status_code == 400 and "'amount'" in low.json()["description"]
            raised = time.monotonic()
            expect(http.put(cap_url(sub), headers=subscriber.headers, json={"amount": "0.0028"}), 200)
            wait_until(lambda: client.get(url).status_code == 200, 5, step=0.05)
            assert time.monotonic() - raised < 2.0
            assert [client.get(url).status_code for _ in range(3)] == [200, 402, 402]  # 7 in all
            # A soft cap is shown, not enforced.
            expect(
                http.put(cap_url(sub), headers=subscriber.headers, json={"amount": "0.0028", "mode": "SOFT"}),
                200,
            )
            wait_until(lambda: client.get(url).status_code == 200, 5, step=0.05)
            expect(http.delete(cap_url(sub), headers=subscriber.headers), 200)
            assert http.delete(cap_url(sub), headers=subscriber.headers).status_code == 404
    finally:
        backend.stop()


def test_caps_are_for_the_callers_own_postpaid_metered_subscriptions(
    http: httpx.Client, subscriber: Caller, admin: Caller, runtime: Runtime
) -> None:
    backend = Backend().start()
    try:
        world = capped_world(runtime, subscriber, backend)
        metered = world.subs[("metered", "shop")]
        for plan, why in (("free", "charges nothing per call"), ("prepaid", "is prepaid")):
            answer = http.put(
                cap_url(world.subs[(plan, "shop")]), headers=subscriber.headers, json={"amount": "1"}
            )
            assert answer.status_code == 400 and why in answer.json()["description"], answer.text
        for bad in ("-1", "abc", "0", "1e3", "0.0000000000001"):
            answer = http.put(cap_url(metered), headers=subscriber.headers, json={"amount": bad})
            assert answer.status_code == 400, (bad, answer.text)
        mode = http.put(cap_url(metered), headers=subscriber.headers, json={"amount": "1", "mode": "MAYBE"})
        assert mode.status_code == 400
        # Another user's subscription (even an admin's token for it) is not found.
        assert http.get(cap_url(metered), headers=admin.headers).status_code == 404
        assert http.put(cap_url(metered), headers=admin.headers, json={"amount": "1"}).status_code == 404
        assert http.get(cap_url("no-such-subscription"), headers=subscriber.headers).status_code == 404
        assert expect(http.get(cap_url(metered), headers=subscriber.headers), 200)["amount"] is None
    finally:
        backend.stop()


def test_a_plans_default_cap_holds_until_the_subscriber_sets_their_own(
    http: httpx.Client, subscriber: Caller, runtime: Runtime
) -> None:
    backend = Backend().start()
    try:
        world = World(tenant_id=subscriber.tenant_id, owner_id=subscriber.user_id)
        add_policy(runtime, world, "Capped", **POSTPAID, default_spend_cap=Decimal("0.0012"))
        add_api(runtime, world, "shop", backend.url)
        add_app(runtime, world, "capped")
        sub = subscribe(runtime, world, "capped", "shop", "Capped")
        shown = expect(http.get(cap_url(sub), headers=subscriber.headers), 200)
        assert (shown["amount"], shown["mode"], shown["source"]) == ("0.0012", "HARD", "PLAN")
        with (
            GatewayThread(runtime) as gateway,
            httpx.Client(headers=bearer(world.tokens["capped"])) as client,
        ):
            url = f"{gateway.url}/shop/1.0.0/status/200"
            assert [client.get(url).status_code for _ in range(5)] == [200] * 3 + [402] * 2
            own = expect(http.put(cap_url(sub), headers=subscriber.headers, json={"amount": "0.002"}), 200)
            assert own["source"] == "SUBSCRIPTION"
            wait_until(lambda: client.get(url).status_code == 200, 5, step=0.05)
            assert [client.get(url).status_code for _ in range(3)] == [200, 402, 402]  # 5 in all
    finally:
        backend.stop()


def test_a_default_cap_needs_a_postpaid_plan_with_a_price_per_call(http: httpx.Client, admin: Caller) -> None:
    from tests.support.rest import ADMIN, commercial_plan

    url = f"{ADMIN}/throttling/policies/subscription"
    made = expect(
        http.post(url, headers=admin.headers, json=commercial_plan("Capped", defaultSpendCap="25")), 201
    )
    assert made["defaultSpendCap"] == "25"
    for name, changes in (
        ("Prepaid", {"billingMode": "PREPAID", "defaultSpendCap": "25"}),
        ("Zero", {"defaultSpendCap": "0"}),
        ("Words", {"defaultSpendCap": "lots"}),
    ):
        answer = http.post(url, headers=admin.headers, json=commercial_plan(name, **changes))
        assert answer.status_code == 400 and "defaultSpendCap" in answer.json()["description"], answer.text
