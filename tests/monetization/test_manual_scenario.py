"""The manual (seed/monetizing-an-api.txt), end to end, over HTTP only, against `tollway serve`.

Admin creates a paid business plan; the publisher creates an API on a real backend, publishes it
and enables monetization with the connected-account key; a subscriber creates an application,
subscribes, gets keys and calls the API through the gateway; the admin publishes the usage (the
manual's Step 4 calls); the subscriber's and the publisher's invoices show exactly billable calls
x price, the revenue matches, and publishing again changes nothing.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.monetization.served import bearer, create_user, expect, pizza_backend, sign_in, tollway_serve
from tollway.runtime import Runtime

ADMIN = "/api/am/admin/v1"
PUBLISHER = "/api/am/publisher/v1"
STORE = "/api/am/store/v1"
PRICE = "0.004"  # sub-cent: 250 calls make exactly 1.00 USD
BILLABLE_CALLS = 250
FAILED_CALLS = 5


def _plan() -> dict[str, Any]:
    return {
        "policyName": "Premium",
        "displayName": "Premium",
        "description": "Pay per request",
        "defaultLimit": {
            "type": "RequestCountLimit",
            "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 100000},
        },
        "rateLimitCount": 0,
        "stopOnQuotaReach": True,
        "billingPlan": "COMMERCIAL",
        "monetization": {
            "monetizationPlan": "DynamicRate",
            "properties": {"pricePerRequest": PRICE, "currencyType": "USD", "billingCycle": "month"},
        },
    }


def _publish_usage(http: httpx.Client, token: str) -> dict[str, Any]:
    accepted = expect(http.post(f"{ADMIN}/monetization/publish-usage", headers=bearer(token)), 202)
    assert accepted == {"status": "Request Accepted", "message": "Server is running the usage publisher"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = expect(http.get(f"{ADMIN}/monetization/publish-usage/status", headers=bearer(token)), 200)
        if status["state"] == "COMPLETED":
            return dict(status)
        time.sleep(0.1)
    raise AssertionError("usage publishing did not complete")


def test_the_manuals_scenario_over_http(runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    with (
        pizza_backend() as backend,
        tollway_serve(database_url, tmp_path / "data") as served,
        httpx.Client(base_url=served.url, timeout=30) as http,
        httpx.Client(base_url=served.gateway, timeout=30) as gateway,
    ):
        create_user(http, "publisher1", "Internal/publisher", "pub@example.com")
        create_user(http, "subscriber1", "Internal/subscriber", "dev@example.com")
        admin = sign_in(
            http, "admin", "admin", "apim:tier_view apim:tier_manage apim:monetization_usage_publish"
        )
        publisher = sign_in(
            http,
            "publisher1",
            "Secret-password-1",
            "apim:api_view apim:api_create apim:api_publish apim:subscription_view",
        )
        dev = sign_in(
            http, "subscriber1", "Secret-password-1", "apim:subscribe apim:app_manage apim:sub_manage"
        )

        # Step 1: the admin's paid business plan.
        expect(
            http.post(f"{ADMIN}/throttling/policies/subscription", json=_plan(), headers=bearer(admin)), 201
        )

        # Step 2: the publisher's API, published and monetized.
        api = {
            "name": "PizzaShackAPI",
            "context": "/pizzashack",
            "version": "1.0.0",
            "policies": ["Premium"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend}},
        }
        api_id = expect(http.post(f"{PUBLISHER}/apis", json=api, headers=bearer(publisher)), 201)["id"]
        expect(
            http.post(
                f"{PUBLISHER}/apis/change-lifecycle",
                params={"apiId": api_id, "action": "Publish"},
                headers=bearer(publisher),
            ),
            200,
        )
        attributes = expect(http.get(f"{PUBLISHER}/settings", headers=bearer(publisher)), 200)
        assert [a["name"] for a in attributes["monetizationAttributes"]] == ["ConnectedAccountKey"]
        missing = expect(
            http.post(
                f"{PUBLISHER}/apis/{api_id}/monetize", json={"enabled": True}, headers=bearer(publisher)
            ),
            400,
        )
        assert "ConnectedAccountKey" in missing["description"]
        monetized = expect(
            http.post(
                f"{PUBLISHER}/apis/{api_id}/monetize",
                json={"enabled": True, "properties": {"ConnectedAccountKey": "acct_1PizzaShack"}},
                headers=bearer(publisher),
            ),
            201,
        )
        assert monetized["enabled"] and list(monetized["properties"]) == ["Premium"]

        # Step 3: the subscriber sees the price, subscribes and calls the API through the gateway.
        listed = expect(http.get(f"{STORE}/apis/{api_id}", headers=bearer(dev)), 200)
        (tier,) = [t for t in listed["tiers"] if t["tierName"] == "Premium"]
        assert tier["tierPlan"] == "COMMERCIAL" and tier["monetizationAttributes"]["pricePerRequest"] == PRICE
        app_id = expect(
            http.post(f"{STORE}/applications", json={"name": "PizzaApp"}, headers=bearer(dev)), 201
        )["applicationId"]
        subscription = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Premium"}
        sub_id = expect(http.post(f"{STORE}/subscriptions", json=subscription, headers=bearer(dev)), 201)[
            "subscriptionId"
        ]
        keys = expect(
            http.post(
                f"{STORE}/applications/{app_id}/generate-keys",
                json={
                    "keyType": "PRODUCTION",
                    "grantTypesToBeSupported": ["client_credentials"],
                    "validityTime": 3600,
                },
                headers=bearer(dev),
            ),
            200,
        )
        app_token = bearer(keys["token"]["accessToken"])
        deadline = time.monotonic() + 15  # the gateway picks up the new subscription
        while gateway.get("/pizzashack/1.0.0/menu", headers=app_token).status_code != 200:
            assert time.monotonic() < deadline, "the gateway never served the subscription"
            time.sleep(0.1)
        for _ in range(BILLABLE_CALLS - 1):
            assert gateway.get("/pizzashack/1.0.0/menu", headers=app_token).status_code == 200
        for _ in range(FAILED_CALLS):
            assert gateway.get("/pizzashack/1.0.0/broken", headers=app_token).status_code == 500
        time.sleep(3)  # the publisher leaves the last 2 s to calls still on their way to the database

        # Step 4: the admin publishes the usage.
        status = _publish_usage(http, admin)
        assert (
            status["status"] == "SUCCESSFUL"
            and status["lastPublsihedTime"] == status["lastPublishedTime"] != "0"
        )

        # Step 5: invoices and revenue show exactly billable calls x price.
        expected_total = format(Decimal(PRICE) * BILLABLE_CALLS, ".2f")
        assert expected_total == "1.00"
        usage = expect(http.get(f"{STORE}/subscriptions/{sub_id}/usage", headers=bearer(dev)), 200)
        assert usage["properties"]["Total"] == expected_total
        assert usage["properties"]["Customer Email"] == "dev@example.com"
        assert usage["invoice"]["lines"] == [
            {
                "description": "Billable requests",
                "quantity": BILLABLE_CALLS,
                "unitAmount": PRICE,
                "amount": "1.00",
            }
        ]
        publisher_view = expect(
            http.get(f"{PUBLISHER}/subscriptions/{sub_id}/usage", headers=bearer(publisher)), 200
        )
        assert publisher_view == usage
        revenue = expect(http.get(f"{PUBLISHER}/apis/{api_id}/revenue", headers=bearer(publisher)), 200)
        assert revenue == {"properties": {sub_id: expected_total, "total": expected_total, "currency": "USD"}}

        # Publishing twice changes nothing.
        assert _publish_usage(http, admin)["status"] == "SUCCESSFUL"
        assert expect(http.get(f"{STORE}/subscriptions/{sub_id}/usage", headers=bearer(dev)), 200) == usage
        assert (
            expect(http.get(f"{PUBLISHER}/apis/{api_id}/revenue", headers=bearer(publisher)), 200) == revenue
        )
