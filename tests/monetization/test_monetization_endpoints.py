"""The monetization REST endpoints over real HTTP: monetize, invoices, revenue, usage publishing."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import ADMIN, POLICIES, PUBLISHER, STORE, commercial_plan, expect, new_api
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.identity.roles import ROLE_PUBLISHER, ROLE_SUBSCRIBER
from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent
from tollway.models import LedgerPlan, MonApiTierPlan, MonPolicyPlan, SubscriptionPolicy
from tollway.publishing import jobs, locks
from tollway.runtime import Runtime


def _published_api(
    http: httpx.Client, publisher: Caller, name: str = "Pizza", plans: list[str] | None = None
) -> str:
    body = new_api(name, context=f"/{name.lower()}", policies=plans or ["Pro"])
    api_id = expect(http.post(f"{PUBLISHER}/apis", json=body, headers=publisher.headers), 201)["id"]
    expect(
        http.post(
            f"{PUBLISHER}/apis/change-lifecycle",
            params={"apiId": api_id, "action": "Publish"},
            headers=publisher.headers,
        ),
        200,
    )
    return api_id


def _subscribe(
    http: httpx.Client, subscriber: Caller, api_id: str, tier: str = "Pro", app: str = "app"
) -> str:
    app_id = expect(http.post(f"{STORE}/applications", json={"name": app}, headers=subscriber.headers), 201)[
        "applicationId"
    ]
    body = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": tier}
    return str(
        expect(http.post(f"{STORE}/subscriptions", json=body, headers=subscriber.headers), 201)[
            "subscriptionId"
        ]
    )


def _calls(runtime: Runtime, subscription_id: str, api_id: str, count: int) -> None:
    """Usage as the gateway's metering writes it."""
    now = utcnow().timestamp()
    DatabaseSink(runtime.engine).write(
        [
            UsageEvent(
                f"{subscription_id[:8]}-{i}",
                now,
                "t",
                api_id,
                "a",
                subscription_id,
                "Pro",
                200,
                True,
                1,
                1,
                1,
            )
            for i in range(count)
        ]
    )


def _publish_and_wait(http: httpx.Client, admin: Caller) -> dict[str, Any]:
    expect(http.post(f"{ADMIN}/monetization/publish-usage", headers=admin.headers), 202)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = expect(http.get(f"{ADMIN}/monetization/publish-usage/status", headers=admin.headers), 200)
        if status["state"] == "COMPLETED":
            return dict(status)
        time.sleep(0.05)
    raise AssertionError("the usage-publishing job did not complete")


def test_monetize_publish_invoice_and_revenue_over_http(
    http: httpx.Client, runtime: Runtime, admin: Caller, publisher: Caller, subscriber: Caller
) -> None:
    expect(http.post(POLICIES, json=commercial_plan("Pro", "0.0004"), headers=admin.headers), 201)
    api_id = _published_api(http, publisher)

    monetized = expect(
        http.post(
            f"{PUBLISHER}/apis/{api_id}/monetize",
            json={"enabled": True, "properties": {}},
            headers=publisher.headers,
        ),
        201,
    )
    assert monetized["enabled"] is True and set(monetized["properties"]) == {"Pro"}
    assert (
        expect(http.get(f"{PUBLISHER}/apis/{api_id}/monetization", headers=publisher.headers), 200)
        == monetized
    )

    sub_id = _subscribe(http, subscriber, api_id)
    _calls(runtime, sub_id, api_id, 2500)
    time.sleep(2.2)  # the publisher leaves the last two seconds for in-flight usage
    status = _publish_and_wait(http, admin)
    assert status["status"] == "SUCCESSFUL" and int(status["lastPublishedTime"]) > 0

    usage = expect(http.get(f"{STORE}/subscriptions/{sub_id}/usage", headers=subscriber.headers), 200)
    props, invoice = usage["properties"], usage["invoice"]
    assert (props["Total"], props["Amount Due"], props["Currency"], props["Paid"]) == (
        "1.00",
        "1.00",
        "usd",
        "false",
    )
    assert props["Period Start"].endswith(" UTC") and props["Customer Email"] == ""
    assert invoice["lines"] == [
        {"description": "Billable requests", "quantity": 2500, "unitAmount": "0.0004", "amount": "1.00"}
    ]
    assert (invoice["total"], invoice["status"], invoice["currency"]) == ("1.00", "draft", "USD")
    assert (
        expect(http.get(f"{PUBLISHER}/subscriptions/{sub_id}/usage", headers=publisher.headers), 200) == usage
    )

    revenue = expect(http.get(f"{PUBLISHER}/apis/{api_id}/revenue", headers=publisher.headers), 200)
    assert revenue == {"properties": {sub_id: "1.00", "total": "1.00", "currency": "USD"}}

    # Publishing again changes nothing.
    _publish_and_wait(http, admin)
    assert expect(http.get(f"{STORE}/subscriptions/{sub_id}/usage", headers=subscriber.headers), 200) == usage

    # Disabling: no new monetized subscriptions; the mapping is gone.
    off = expect(
        http.post(f"{PUBLISHER}/apis/{api_id}/monetize", json={"enabled": False}, headers=publisher.headers),
        201,
    )
    assert off == {"enabled": False, "properties": {}}
    # The existing subscription is still billed until its period ends.
    assert (
        expect(http.get(f"{STORE}/subscriptions/{sub_id}/usage", headers=subscriber.headers), 200)["invoice"][
            "total"
        ]
        == "1.00"
    )


def test_publishing_is_refused_while_a_job_runs(http: httpx.Client, runtime: Runtime, admin: Caller) -> None:
    assert locks.acquire(runtime.session_factory, jobs.LOCK, "another-node", timedelta(minutes=5))
    refused = http.post(f"{ADMIN}/monetization/publish-usage", headers=admin.headers)
    assert refused.status_code == 409
    assert refused.json() == {
        "status": "Server could not accept the request",
        "message": "A job is already running",
    }
    locks.release(runtime.session_factory, jobs.LOCK, "another-node")
    expect(http.post(f"{ADMIN}/monetization/publish-usage", headers=admin.headers), 202)


def test_usage_publishing_needs_its_scope(
    http: httpx.Client, identity: OrmIdentity, publisher: Caller
) -> None:
    for method, path in (("POST", "/publish-usage"), ("GET", "/publish-usage/status")):
        assert http.request(method, f"{ADMIN}/monetization{path}").status_code == 401
        assert (
            http.request(method, f"{ADMIN}/monetization{path}", headers=publisher.headers).status_code == 403
        )
    limited = identity.login("admin", scopes=["apim:monetization_usage_publish"])
    expect(http.get(f"{ADMIN}/monetization/publish-usage/status", headers=limited.headers), 200)


def _tables_untouched(runtime: Runtime) -> tuple[int, int, int]:
    with transaction(runtime.session_factory) as session:
        return (
            int(session.scalar(select(func.count()).select_from(MonApiTierPlan)) or 0),
            int(session.scalar(select(func.count()).select_from(LedgerPlan)) or 0),
            int(session.scalar(select(func.count()).select_from(MonPolicyPlan)) or 0),
        )


def test_monetizing_an_unpublished_api_or_with_bad_properties_is_a_400(
    http: httpx.Client, runtime: Runtime, admin: Caller, publisher: Caller
) -> None:
    expect(http.post(POLICIES, json=commercial_plan("Pro"), headers=admin.headers), 201)
    draft = expect(http.post(f"{PUBLISHER}/apis", json=new_api(), headers=publisher.headers), 201)["id"]
    before = _tables_untouched(runtime)
    url = f"{PUBLISHER}/apis/{draft}/monetize"
    refused = expect(http.post(url, json={"enabled": True}, headers=publisher.headers), 400)
    assert "lifeCycleStatus" in refused["description"]
    refused = expect(http.post(url, json={"enabled": True, "colour": "red"}, headers=publisher.headers), 400)
    assert "colour" in refused["description"]
    refused = expect(http.post(url, json={"enabled": "yes"}, headers=publisher.headers), 400)
    assert "enabled" in refused["description"]
    published = _published_api(http, publisher, "Pasta")
    refused = expect(
        http.post(
            f"{PUBLISHER}/apis/{published}/monetize",
            json={"enabled": True, "properties": {"ConnectedAccountKey": "acct_1"}},
            headers=publisher.headers,
        ),
        400,
    )
    assert "properties.ConnectedAccountKey" in refused["description"]  # not configured here
    assert _tables_untouched(runtime) == before
    assert expect(http.get(f"{PUBLISHER}/apis/{draft}/monetization", headers=publisher.headers), 200) == {
        "enabled": False,
        "properties": {},
    }


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({"pricePerRequest": "abc", "currencyType": "USD", "billingCycle": "month"}, "pricePerRequest"),
        ({"pricePerRequest": "-0.01", "currencyType": "USD", "billingCycle": "month"}, "pricePerRequest"),
        ({"pricePerRequest": "0.01", "currencyType": "XYZ", "billingCycle": "month"}, "currencyType"),
        ({"pricePerRequest": "0.01", "currencyType": "USD", "billingCycle": "fortnight"}, "billingCycle"),
    ],
)
def test_bad_prices_are_a_400_naming_the_field_and_write_nothing(
    http: httpx.Client, runtime: Runtime, admin: Caller, properties: dict[str, str], field: str
) -> None:
    before = _tables_untouched(runtime)
    with transaction(runtime.session_factory) as session:
        policies = session.scalar(select(func.count()).select_from(SubscriptionPolicy))
    body = commercial_plan("Broken")
    body["monetization"]["properties"] = properties
    refused = expect(http.post(POLICIES, json=body, headers=admin.headers), 400)
    assert field in refused["description"]
    assert _tables_untouched(runtime) == before
    with transaction(runtime.session_factory) as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionPolicy)) == policies


def test_invoices_and_revenue_are_only_for_their_owners(
    http: httpx.Client,
    runtime: Runtime,
    identity: OrmIdentity,
    admin: Caller,
    publisher: Caller,
    subscriber: Caller,
) -> None:
    expect(http.post(POLICIES, json=commercial_plan("Pro"), headers=admin.headers), 201)
    api_id = _published_api(http, publisher)
    expect(
        http.post(f"{PUBLISHER}/apis/{api_id}/monetize", json={"enabled": True}, headers=publisher.headers),
        201,
    )
    sub_id = _subscribe(http, subscriber, api_id)
    other_dev = identity.user("eve", [ROLE_SUBSCRIBER])
    stranger = identity.user("mallory", [ROLE_PUBLISHER], tenant="other.com")
    assert http.get(f"{STORE}/subscriptions/{sub_id}/usage", headers=other_dev.headers).status_code == 404
    assert http.get(f"{PUBLISHER}/subscriptions/{sub_id}/usage", headers=stranger.headers).status_code == 404
    assert http.get(f"{PUBLISHER}/apis/{api_id}/revenue", headers=stranger.headers).status_code == 404
    assert http.get(f"{PUBLISHER}/apis/{api_id}/monetization", headers=stranger.headers).status_code == 404
    assert (
        http.post(
            f"{PUBLISHER}/apis/{api_id}/monetize", json={"enabled": False}, headers=stranger.headers
        ).status_code
        == 404
    )
    assert http.get(f"{STORE}/subscriptions/{sub_id}/usage", headers=publisher.headers).status_code == 403
    assert (
        http.post(
            f"{PUBLISHER}/apis/{api_id}/monetize", json={"enabled": False}, headers=subscriber.headers
        ).status_code
        == 403
    )


def test_paid_plans_are_offered_only_while_monetization_is_enabled(
    http: httpx.Client, admin: Caller, publisher: Caller, subscriber: Caller
) -> None:
    expect(http.post(POLICIES, json=commercial_plan("Pro", "0.0004"), headers=admin.headers), 201)
    api_id = _published_api(http, publisher, plans=["Pro", "Unlimited"])
    monetize = f"{PUBLISHER}/apis/{api_id}/monetize"

    def offered() -> list[str]:
        api = expect(http.get(f"{STORE}/apis/{api_id}", headers=subscriber.headers), 200)
        listed = expect(http.get(f"{STORE}/apis", headers=subscriber.headers), 200)["list"]
        (same,) = [a for a in listed if a["id"] == api_id]
        assert same["throttlingPolicies"] == api["throttlingPolicies"]
        assert [t["tierName"] for t in api["tiers"]] == api["throttlingPolicies"]
        return list(api["throttlingPolicies"])

    # Never monetized: the paid plan's price is not advertised and it takes no subscription.
    assert offered() == ["Unlimited"]
    app_id = expect(
        http.post(f"{STORE}/applications", json={"name": "app"}, headers=subscriber.headers), 201
    )["applicationId"]
    paid = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Pro"}
    refused = expect(http.post(f"{STORE}/subscriptions", json=paid, headers=subscriber.headers), 400)
    assert (
        "'throttlingPolicy': 'Pro' is a paid plan and monetization of this API is disabled"
        in (refused["description"])
    )
    assert "offers Unlimited" in refused["description"]
    assert expect(http.get(f"{STORE}/subscriptions", headers=subscriber.headers), 200)["count"] == 0

    expect(http.post(monetize, json={"enabled": True}, headers=publisher.headers), 201)
    assert offered() == ["Pro", "Unlimited"]
    sub = expect(http.post(f"{STORE}/subscriptions", json=paid, headers=subscriber.headers), 201)

    # Disabled again: the existing subscription keeps its plan, new ones get the free plan only.
    expect(http.post(monetize, json={"enabled": False}, headers=publisher.headers), 201)
    assert offered() == ["Unlimited"]
    other_app = expect(
        http.post(f"{STORE}/applications", json={"name": "other"}, headers=subscriber.headers), 201
    )["applicationId"]
    again = {**paid, "applicationId": other_app}
    expect(http.post(f"{STORE}/subscriptions", json=again, headers=subscriber.headers), 400)
    free = {**again, "throttlingPolicy": "Unlimited"}
    expect(http.post(f"{STORE}/subscriptions", json=free, headers=subscriber.headers), 201)
    kept = expect(http.get(f"{STORE}/subscriptions/{sub['subscriptionId']}", headers=subscriber.headers), 200)
    assert kept["throttlingPolicy"] == "Pro"
