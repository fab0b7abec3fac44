"""The manual's roles, end to end over HTTP, as far as plans, APIs, applications and subscriptions go.

Admin creates a COMMERCIAL DynamicRate plan; a publisher attaches it to an API, publishes it and
enables monetization; a subscriber sees the plan's price in the catalog, creates an application,
generates keys and subscribes with the plan. Users of a second tenant see none of it.

The callers come from the ``identity`` fixture: switching to the SCIM2 and token endpoints is a
matter of replacing the class behind it.
"""

from __future__ import annotations

import httpx

from tests.support.identity import OrmIdentity
from tests.support.rest import POLICIES, PUBLISHER, STORE, commercial_plan, expect, monetize, new_api
from tollway.identity.roles import ROLE_ADMIN, ROLE_PUBLISHER, ROLE_SUBSCRIBER


def test_monetized_api_from_plan_to_subscription(http: httpx.Client, identity: OrmIdentity) -> None:
    admin = identity.login("admin")
    publisher = identity.user("publisher1", [ROLE_PUBLISHER])
    subscriber = identity.user("subscriber1", [ROLE_SUBSCRIBER])

    # Step 1: the admin creates a paid business plan.
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("PayPerCall")), 201)
    assert plan["billingPlan"] == "COMMERCIAL"
    assert plan["monetization"]["properties"]["pricePerRequest"] == "0.0004"

    # Step 2: the publisher creates an API offering the plan, publishes and monetizes it.
    api = expect(
        http.post(
            f"{PUBLISHER}/apis", headers=publisher.headers, json=new_api(policies=["PayPerCall", "Gold"])
        ),
        201,
    )
    assert api["provider"] == "publisher1"
    assert api["lifeCycleStatus"] == "CREATED"
    changed = expect(
        http.post(
            f"{PUBLISHER}/apis/change-lifecycle",
            headers=publisher.headers,
            params={"apiId": api["id"], "action": "Publish"},
        ),
        200,
    )
    assert changed["lifecycleState"]["state"] == "PUBLISHED"
    monetize(http, publisher, api["id"])  # the plan's price is offered from here on

    # Step 3: the subscriber sees the price, creates an application, gets keys and subscribes.
    listed = expect(http.get(f"{STORE}/apis", headers=subscriber.headers), 200)
    assert [a["id"] for a in listed["list"]] == [api["id"]]
    tiers = {t["tierName"]: t for t in listed["list"][0]["tiers"]}
    assert tiers["PayPerCall"]["tierPlan"] == "COMMERCIAL"
    price = tiers["PayPerCall"]["monetizationAttributes"]
    assert (price["pricePerRequest"], price["currencyType"], price["billingCycle"]) == (
        "0.0004",
        "USD",
        "month",
    )
    assert tiers["Gold"]["tierPlan"] == "FREE"

    app = expect(
        http.post(f"{STORE}/applications", headers=subscriber.headers, json={"name": "PizzaApp"}),
        201,
    )
    keys = expect(
        http.post(
            f"{STORE}/applications/{app['applicationId']}/generate-keys",
            headers=subscriber.headers,
            json={
                "keyType": "PRODUCTION",
                "grantTypesToBeSupported": ["client_credentials"],
                "validityTime": 3600,
            },
        ),
        200,
    )
    assert keys["consumerKey"] and keys["consumerSecret"] and keys["token"]["accessToken"]
    subscription = expect(
        http.post(
            f"{STORE}/subscriptions",
            headers=subscriber.headers,
            json={
                "applicationId": app["applicationId"],
                "apiId": api["id"],
                "throttlingPolicy": "PayPerCall",
            },
        ),
        201,
    )
    assert subscription["status"] == "UNBLOCKED"
    assert subscription["throttlingPolicy"] == "PayPerCall"

    # The publisher sees the subscription with the subscriber's name.
    seen = expect(
        http.get(f"{PUBLISHER}/subscriptions", headers=publisher.headers, params={"apiId": api["id"]}), 200
    )
    assert seen["count"] == 1
    assert seen["list"][0]["applicationInfo"] == {
        "applicationId": app["applicationId"],
        "name": "PizzaApp",
        "subscriber": "subscriber1",
    }

    # A second tenant's users see none of it.
    identity.tenant("other.com")
    other_admin = identity.user("admin", [ROLE_ADMIN], tenant="other.com")
    other_publisher = identity.user("pub", [ROLE_PUBLISHER], tenant="other.com")
    other_subscriber = identity.user("dev", [ROLE_SUBSCRIBER], tenant="other.com")
    names = [p["policyName"] for p in expect(http.get(POLICIES, headers=other_admin.headers), 200)["list"]]
    assert "PayPerCall" not in names
    assert expect(http.get(f"{PUBLISHER}/apis", headers=other_publisher.headers), 200)["count"] == 0
    assert expect(http.get(f"{STORE}/apis", headers=other_subscriber.headers), 200)["count"] == 0
    expect(http.get(f"{STORE}/apis/{api['id']}", headers=other_subscriber.headers), 404)
    expect(http.get(f"{PUBLISHER}/subscriptions", headers=other_publisher.headers), 200)
    for body in (
        http.get(f"{PUBLISHER}/subscriptions", headers=other_publisher.headers).text,
        http.get(f"{STORE}/subscriptions", headers=other_subscriber.headers).text,
        http.get(f"{STORE}/applications", headers=other_subscriber.headers).text,
    ):
        assert api["id"] not in body and app["applicationId"] not in body and "PizzaApp" not in body
