"""Developer portal catalog: /store/v1/apis, public per tenant, with the plans' prices."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import POLICIES, PUBLISHER, STORE, commercial_plan, expect, monetize, new_api
from tollway.identity.roles import ROLE_PUBLISHER, ROLE_SUBSCRIBER

APIS = f"{PUBLISHER}/apis"


def api_in_state(http: httpx.Client, publisher: Caller, name: str, *actions: str, **changes: Any) -> str:
    api = expect(
        http.post(
            APIS, headers=publisher.headers, json=new_api(name=name, context=f"/{name.lower()}", **changes)
        ),
        201,
    )
    for action in actions:
        expect(
            http.post(
                f"{APIS}/change-lifecycle",
                headers=publisher.headers,
                params={"apiId": api["id"], "action": action},
            ),
            200,
        )
    return str(api["id"])


def listed(http: httpx.Client, **kwargs: Any) -> list[str]:
    return [a["name"] for a in expect(http.get(f"{STORE}/apis", **kwargs), 200)["list"]]


def test_the_catalog_shows_published_and_prototyped_apis_to_anyone(
    http: httpx.Client, publisher: Caller
) -> None:
    ids = {
        "Created": api_in_state(http, publisher, "Created"),
        "Published": api_in_state(http, publisher, "Published", "Publish"),
        "Prototype": api_in_state(http, publisher, "Prototype", "Deploy as a Prototype"),
        "Blocked": api_in_state(http, publisher, "Blocked", "Publish", "Block"),
        "Deprecated": api_in_state(http, publisher, "Deprecated", "Publish", "Deprecate"),
        "Retired": api_in_state(http, publisher, "Retired", "Publish", "Deprecate", "Retire"),
    }
    assert listed(http) == ["Prototype", "Published"]  # anonymous, default tenant, by name
    for name in ("Published", "Prototype", "Deprecated"):
        assert expect(http.get(f"{STORE}/apis/{ids[name]}"), 200)["name"] == name
    for name in ("Created", "Blocked", "Retired"):
        expect(http.get(f"{STORE}/apis/{ids[name]}"), 404)


def test_each_tier_shows_its_plan_and_price(http: httpx.Client, admin: Caller, publisher: Caller) -> None:
    expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Metered")), 201)
    tiered = commercial_plan("Tiered")
    tiered["monetization"] = {
        "monetizationPlan": "DynamicRate",
        "properties": {"currencyType": "JPY", "billingCycle": "week", "includedRequests": 100},
        "tiers": [{"upTo": 1000, "unitPrice": "2"}, {"upTo": None, "unitPrice": "1"}],
    }
    expect(http.post(POLICIES, headers=admin.headers, json=tiered), 201)
    api_id = api_in_state(http, publisher, "Pizza", "Publish", policies=["Metered", "Tiered", "Gold"])
    monetize(http, publisher, api_id)  # paid plans are offered only then (tests/monetization)
    api = expect(http.get(f"{STORE}/apis/{api_id}"), 200)
    assert api["throttlingPolicies"] == ["Metered", "Tiered", "Gold"]
    assert api["tiers"] == [
        {
            "tierName": "Metered",
            "tierPlan": "COMMERCIAL",
            "monetizationAttributes": {
                "fixedPrice": None,
                "pricePerRequest": "0.0004",
                "currencyType": "USD",
                "billingCycle": "month",
                "includedRequests": 0,
                "tiers": None,
                "tierMode": None,
            },
        },
        {
            "tierName": "Tiered",
            "tierPlan": "COMMERCIAL",
            "monetizationAttributes": {
                "fixedPrice": None,
                "pricePerRequest": None,
                "currencyType": "JPY",
                "billingCycle": "week",
                "includedRequests": 100,
                "tiers": [
                    {"upTo": 1000, "unitPrice": "2", "flatAmount": "0"},
                    {"upTo": None, "unitPrice": "1", "flatAmount": "0"},
                ],
                "tierMode": "graduated",
            },
        },
        {
            "tierName": "Gold",
            "tierPlan": "FREE",
            "monetizationAttributes": {
                "fixedPrice": None,
                "pricePerRequest": None,
                "currencyType": None,
                "billingCycle": None,
                "includedRequests": None,
                "tiers": None,
                "tierMode": None,
            },
        },
    ]
    # The catalog never shows the backend.
    assert "127.0.0.1:9" not in http.get(f"{STORE}/apis/{api_id}").text


def test_the_tenant_comes_from_the_header_the_query_or_the_token(
    http: httpx.Client, publisher: Caller, identity: OrmIdentity
) -> None:
    api_in_state(http, publisher, "Home", "Publish")
    acme_publisher = identity.user("pub", [ROLE_PUBLISHER], tenant="acme.com")
    acme_id = api_in_state(http, acme_publisher, "Acme", "Publish")
    acme_subscriber = identity.user("dev", [ROLE_SUBSCRIBER], tenant="acme.com")

    assert listed(http) == ["Home"]
    assert listed(http, headers={"X-WSO2-Tenant": "acme.com"}) == ["Acme"]
    assert listed(http, params={"tenantDomain": "acme.com"}) == ["Acme"]
    assert listed(http, headers=acme_subscriber.headers) == ["Acme"]
    assert listed(http, headers=acme_subscriber.headers | {"X-WSO2-Tenant": "carbon.super"}) == ["Home"]
    expect(http.get(f"{STORE}/apis/{acme_id}"), 404)
    assert (
        expect(http.get(f"{STORE}/apis/{acme_id}", headers={"X-WSO2-Tenant": "acme.com"}), 200)["name"]
        == "Acme"
    )
    expect(http.get(f"{STORE}/apis", headers={"X-WSO2-Tenant": "nowhere.com"}), 404)
    expect(http.get(f"{STORE}/apis", params={"tenantDomain": "bad\x01"}), 400)


def test_a_bad_token_is_refused_even_on_the_public_catalog(http: httpx.Client) -> None:
    expect(http.get(f"{STORE}/apis", headers={"Authorization": "Bearer nope"}), 401)
    expect(http.get(f"{STORE}/apis", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401)


def test_catalog_search_and_paging(http: httpx.Client, publisher: Caller) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        api_in_state(http, publisher, name, "Publish")
    body = expect(http.get(f"{STORE}/apis", params={"limit": 1, "offset": 1}), 200)
    assert [a["name"] for a in body["list"]] == ["Beta"]
    assert body["pagination"]["total"] == 3
    assert listed(http, params={"query": "amm"}) == ["Gamma"]
