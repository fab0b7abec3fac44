"""Alerts → webhooks: a wallet running low or empty and a subscription's spend reaching its
thresholds each become one signed event per period, sent to the subscriber's endpoints."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from tests.monetization.world import World
from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import ADMIN, STORE, expect
from tests.webhooks.receiver import Receiver, receiver
from tests.webhooks.support import dispatch_for, dispatch_until, webhook_settings
from tollway.wallets.alerts import evaluate
from tollway.wallets.settlement import settle_all

THRESHOLDS = f"{STORE}/alert-thresholds"


def settle_and_alert(world: World) -> int:
    """What the scheduler does each settlement run: settle prepaid calls, then look at thresholds."""
    now = datetime.now(UTC)
    settle_all(world.runtime.session_factory, now)
    return evaluate(world.runtime.session_factory, now).events


def events(hooks: Receiver) -> list[dict[str, Any]]:
    return [r.event for r in hooks.delivered()]


def test_wallet_alerts_fire_once_per_crossing_and_a_credit_arms_them_again(
    world: World, http: httpx.Client, identity: OrmIdentity, admin: Caller
) -> None:
    webhook_settings(world.runtime, allow_internal_targets=True)
    world.policy("Prepaid", price="0.01", mode="PREPAID")
    api = world.api("Maps", policies=["Prepaid"])
    world.monetize(api)
    app = world.app()
    sub = world.subscribe(app, api, tier="Prepaid")
    dev = identity.login("dev")
    credit = {"owner": "dev", "currency": "USD", "amount": "0.10", "reason": "welcome"}
    expect(http.post(f"{ADMIN}/wallets/credits", headers=admin.headers, json=credit), 201)
    low = {"subject": "WALLET", "currency": "USD", "amount": "0.05"}
    threshold = expect(http.post(THRESHOLDS, headers=dev.headers, json=low), 201)
    assert (threshold["amount"], threshold["currency"]) == ("0.05", "USD")
    for bad in ({"subject": "WALLET", "amount": "1"}, {"subject": "WALLET", "currency": "USD"}):
        answer = http.post(THRESHOLDS, headers=dev.headers, json=bad)
        assert answer.status_code == 400, answer.text
    with receiver() as hooks:
        made = expect(
            http.post(f"{STORE}/applications/{app}/webhooks", headers=dev.headers, json={"url": hooks.url}),
            201,
        )
        world.calls(sub, 5)  # 0.05 left: not below 0.05
        assert settle_and_alert(world) == 0
        world.calls(sub, 1)  # 0.04
        assert settle_and_alert(world) == 1
        assert settle_and_alert(world) == 0  # crossed once, not at every look
        world.calls(sub, 4)  # 0.00
        assert settle_and_alert(world) == 1
        dispatch_until(world.runtime, lambda: len(hooks.delivered()) == 2)
        # Deliveries go out in parallel: their order is not the events' order.
        first, second = sorted(events(hooks), key=lambda e: e["type"] != "wallet.low_balance")
        assert first["type"] == "wallet.low_balance"
        assert (first["data"]["balance"], first["data"]["threshold"]) == ("0.04", "0.05")
        assert first["data"]["thresholdId"] == threshold["thresholdId"]
        assert second["type"] == "wallet.depleted" and second["data"]["balance"] == "0.00"
        assert all(r.verifies(made["secret"]) for r in hooks.delivered())

        # A top-up arms both again: the next fall below 0.05 and to 0 are new crossings.
        expect(http.post(f"{ADMIN}/wallets/credits", headers=admin.headers, json=credit), 201)
        assert settle_and_alert(world) == 0
        world.calls(sub, 7)  # 0.03
        assert settle_and_alert(world) == 1
        dispatch_until(world.runtime, lambda: len(hooks.delivered()) == 3)
        assert events(hooks)[2]["type"] == "wallet.low_balance"
        assert events(hooks)[2]["data"]["balance"] == "0.03"
        # Without the threshold, the next crossing is not reported (depletion still is).
        expect(http.delete(f"{THRESHOLDS}/{threshold['thresholdId']}", headers=dev.headers), 200)
        assert expect(http.get(THRESHOLDS, headers=dev.headers), 200)["count"] == 0
        expect(http.post(f"{ADMIN}/wallets/credits", headers=admin.headers, json=credit), 201)
        world.calls(sub, 13)  # 0.13 - 0.13 = 0
        assert settle_and_alert(world) == 1
        dispatch_for(world.runtime, 0.3)
        assert [e["type"] for e in events(hooks)][3:] == ["wallet.depleted"]
        assert len({e["id"] for e in events(hooks)}) == 4


def test_spend_thresholds_and_the_cap_each_cross_once_in_the_period(
    world: World, http: httpx.Client, identity: OrmIdentity
) -> None:
    webhook_settings(world.runtime, allow_internal_targets=True)
    world.policy("Metered", price="0.01")
    api = world.api("Maps", policies=["Metered"])
    world.monetize(api)
    app = world.app()
    sub = world.subscribe(app, api, tier="Metered")
    dev = identity.login("dev")
    cap = f"{STORE}/subscriptions/{sub}/spend-cap"
    uncapped = {"subject": "SPEND", "subscriptionId": sub, "percent": "50"}
    refused = http.post(THRESHOLDS, headers=dev.headers, json=uncapped)
    assert refused.status_code == 400 and "no spend cap" in refused.json()["description"]
    expect(http.put(cap, headers=dev.headers, json={"amount": "0.10", "mode": "SOFT"}), 200)
    spend = {"subject": "SPEND", "subscriptionId": sub}
    half = expect(http.post(THRESHOLDS, headers=dev.headers, json=spend | {"percent": "50"}), 201)
    eight = expect(http.post(THRESHOLDS, headers=dev.headers, json=spend | {"amount": "0.08"}), 201)
    for bad, status in (
        ({"subject": "SPEND", "subscriptionId": sub, "percent": "150"}, 400),
        ({"subject": "SPEND", "subscriptionId": sub}, 400),
        ({"subject": "SPEND", "subscriptionId": sub, "percent": "10", "amount": "1"}, 400),
        ({"subject": "SPEND", "subscriptionId": "no-such-subscription", "percent": "10"}, 404),
    ):
        answer = http.post(THRESHOLDS, headers=dev.headers, json=bad)
        assert answer.status_code == status, (bad, answer.text)
    with receiver() as hooks:
        expect(
            http.post(f"{STORE}/applications/{app}/webhooks", headers=dev.headers, json={"url": hooks.url}),
            201,
        )
        world.calls(sub, 4)  # 0.04
        world.calls(sub, 3, billable=False)  # failed calls cost nothing
        assert settle_and_alert(world) == 0
        world.calls(sub, 1)  # 0.05: half the cap
        assert settle_and_alert(world) == 1
        world.calls(sub, 3)  # 0.08
        assert settle_and_alert(world) == 1
        world.calls(sub, 4)  # 0.12: past the (soft) cap
        assert settle_and_alert(world) == 1
        assert settle_and_alert(world) == 0
        dispatch_until(world.runtime, lambda: len(hooks.delivered()) == 3)
    crossed = sorted(events(hooks), key=lambda e: Decimal(e["data"]["spent"]))  # sent in parallel
    assert Counter(e["type"] for e in crossed) == {"usage.threshold_crossed": 3}
    kinds = [e["data"]["threshold"] for e in crossed]
    assert kinds[0] == {"kind": "PERCENT", "thresholdId": half["thresholdId"], "percent": "50"}
    assert kinds[1] == {"kind": "AMOUNT", "thresholdId": eight["thresholdId"], "amount": "0.08"}
    assert kinds[2] == {"kind": "CAP", "percent": "100"}
    assert [e["data"]["spent"] for e in crossed] == ["0.05", "0.08", "0.12"]
    assert {(e["data"]["cap"], e["data"]["capMode"], e["data"]["subscriptionId"]) for e in crossed} == {
        ("0.10", "SOFT", sub)
    }


def test_quota_thresholds_cross_once_per_quota_window(
    world: World, http: httpx.Client, identity: OrmIdentity
) -> None:
    webhook_settings(world.runtime, allow_internal_targets=True)
    plan = world.policy("Quota", price="0.01")
    # 10 calls a month (a calendar-month window, as the gateway counts it).
    world.edit_policy(plan, request_count=10, time_unit="month", unit_time=1)
    bandwidth = world.policy("Bytes", price="0.01")
    world.edit_policy(bandwidth, limit_type="BandwidthLimit", data_amount=10, data_unit="MB")
    api = world.api("Maps", policies=["Quota", "Bytes"])
    world.monetize(api)
    app = world.app()
    sub = world.subscribe(app, api, tier="Quota")
    by_bytes = world.subscribe(world.app(), api, tier="Bytes")
    dev = identity.login("dev")
    quota = {"subject": "QUOTA", "subscriptionId": sub}
    half = expect(http.post(THRESHOLDS, headers=dev.headers, json=quota | {"percent": "50"}), 201)
    eight = expect(http.post(THRESHOLDS, headers=dev.headers, json=quota | {"requests": 8}), 201)
    assert (half["percent"], eight["requests"], eight["subject"]) == ("50", 8, "QUOTA")
    for bad, status, field in (
        (quota | {"percent": "101"}, 400, "percent"),
        (quota | {"requests": 0}, 400, "requests"),
        (quota | {"percent": "5", "requests": 5}, 400, "percent"),
        (quota | {"requests": 5, "currency": "USD"}, 400, "amount"),
        ({"subject": "QUOTA", "subscriptionId": by_bytes, "percent": "5"}, 400, "subscriptionId"),
        ({"subject": "SPEND", "subscriptionId": sub, "requests": 5}, 400, "requests"),
        ({"subject": "QUOTA", "subscriptionId": "no-such-subscription", "percent": "5"}, 404, ""),
    ):
        answer = http.post(THRESHOLDS, headers=dev.headers, json=bad)
        assert answer.status_code == status, (bad, answer.text)
        assert field in answer.json()["description"], (bad, answer.text)
    with receiver() as hooks:
        mine = f"{STORE}/applications/{app}/webhooks"
        expect(http.post(mine, headers=dev.headers, json={"url": hooks.url}), 201)
        world.calls(sub, 4, billable=False)  # refused by the backend: still calls against the quota
        assert settle_and_alert(world) == 0
        world.calls(sub, 1)  # 5 of 10: half
        assert settle_and_alert(world) == 1
        world.calls(sub, 3)  # 8
        assert settle_and_alert(world) == 1
        world.calls(sub, 5)  # 13: past the quota, nothing more to say
        assert settle_and_alert(world) == 0
        dispatch_until(world.runtime, lambda: len(hooks.delivered()) == 2)
    crossed = sorted(events(hooks), key=lambda e: e["data"]["used"])
    assert [e["type"] for e in crossed] == ["usage.threshold_crossed"] * 2
    assert [e["data"]["threshold"] for e in crossed] == [
        {"kind": "QUOTA", "thresholdId": half["thresholdId"], "percent": "50"},
        {"kind": "QUOTA", "thresholdId": eight["thresholdId"], "requests": "8"},
    ]
    assert [(e["data"]["used"], e["data"]["quota"]) for e in crossed] == [(5, 10), (8, 10)]
    start = datetime.fromisoformat(crossed[0]["data"]["windowStart"])
    assert (start.day, start.hour, start.minute) == (1, 0, 0)  # the calendar month's first moment
