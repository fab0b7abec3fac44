"""Admin API business plans: /throttling/policies/subscription over real HTTP."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import (
    POLICIES,
    PUBLISHER,
    STORE,
    RecordingHooks,
    commercial_plan,
    config_version,
    expect,
    monetize,
    new_api,
)
from tollway.identity.roles import ROLE_ADMIN
from tollway.models import SubscriptionPolicy
from tollway.runtime import Runtime


def names(http: httpx.Client, caller: Caller) -> list[str]:
    return [p["policyName"] for p in expect(http.get(POLICIES, headers=caller.headers), 200)["list"]]


def test_a_tenant_starts_with_wso2s_default_plans(http: httpx.Client, admin: Caller) -> None:
    body = expect(http.get(POLICIES, headers=admin.headers), 200)
    plans = {p["policyName"]: p for p in body["list"]}
    assert body["count"] == 4
    counts = {name: plan["defaultLimit"]["requestCount"]["requestCount"] for name, plan in plans.items()}
    assert counts == {"Unlimited": 2147483647, "Gold": 5000, "Silver": 2000, "Bronze": 1000}
    assert {p["billingPlan"] for p in plans.values()} == {"FREE"}
    assert {p["defaultLimit"]["requestCount"]["timeUnit"] for p in plans.values()} == {"min"}
    assert all(p["monetization"] is None for p in plans.values())


def test_a_new_tenant_gets_its_own_default_plans(http: httpx.Client, identity: OrmIdentity) -> None:
    other = identity.user("boss", [ROLE_ADMIN], tenant="acme.com")
    assert sorted(names(http, other)) == ["Bronze", "Gold", "Silver", "Unlimited"]


def test_create_a_commercial_dynamic_rate_plan(http: httpx.Client, admin: Caller, runtime: Runtime) -> None:
    before = config_version(runtime)
    response = http.post(POLICIES, headers=admin.headers, json=commercial_plan("Metered"))
    plan = expect(response, 201)
    assert response.headers["location"].endswith(f"/throttling/policies/subscription/{plan['policyId']}")
    assert plan == {
        "policyId": plan["policyId"],
        "type": "SubscriptionThrottlePolicy",
        "isDeployed": True,
        "policyName": "Metered",
        "displayName": "Metered",
        "description": "Metered plan",
        "defaultLimit": {
            "type": "RequestCountLimit",
            "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 1000},
            "bandwidth": None,
        },
        "rateLimitCount": 50,
        "rateLimitTimeUnit": "sec",
        "stopOnQuotaReach": True,
        "billingPlan": "COMMERCIAL",
        "billingMode": "POSTPAID",
        "defaultSpendCap": None,
        "monetization": {
            "monetizationPlan": "DynamicRate",
            "properties": {
                "fixedPrice": None,
                "pricePerRequest": "0.0004",
                "currencyType": "USD",
                "billingCycle": "month",
                "includedRequests": 0,
            },
            "tiers": None,
            "tierMode": None,
        },
        "customAttributes": [],
    }
    assert expect(http.get(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200) == plan
    assert "Metered" in names(http, admin)
    assert config_version(runtime) > before
    with runtime.session_factory() as session:
        row = session.get(SubscriptionPolicy, plan["policyId"])
        assert row is not None
        assert str(row.price_per_request.normalize()) == "0.0004"  # exact Decimal, not a float
        assert row.revision == 1


def test_enums_are_accepted_in_any_case_and_answered_in_wso2_spelling(
    http: httpx.Client, admin: Caller
) -> None:
    body = commercial_plan(
        "Loud",
        billingPlan="commercial",
        defaultLimit={"type": "REQUESTCOUNTLIMIT", "requestCount": {"timeUnit": "MIN", "requestCount": 10}},
        rateLimitTimeUnit="SEC",
        monetization={
            "monetizationPlan": "FIXEDRATE",
            "properties": {"fixedPrice": "10.00", "currencyType": "eur", "billingCycle": "YEAR"},
        },
    )
    plan = expect(http.post(POLICIES, headers=admin.headers, json=body), 201)
    assert plan["billingPlan"] == "COMMERCIAL"
    assert plan["defaultLimit"]["type"] == "RequestCountLimit"
    assert plan["defaultLimit"]["requestCount"]["timeUnit"] == "min"
    assert plan["rateLimitTimeUnit"] == "sec"
    assert plan["monetization"]["monetizationPlan"] == "FixedRate"
    props = plan["monetization"]["properties"]
    assert (props["fixedPrice"], props["currencyType"], props["billingCycle"]) == ("10", "EUR", "year")


def test_bandwidth_plans_and_custom_attributes(http: httpx.Client, admin: Caller) -> None:
    body: dict[str, Any] = {
        "policyName": "Bulk",
        "defaultLimit": {
            "type": "BandwidthLimit",
            "bandwidth": {"timeUnit": "day", "unitTime": 1, "dataAmount": 500, "dataUnit": "mb"},
        },
        "customAttributes": [{"name": "team", "value": "data"}],
    }
    plan = expect(http.post(POLICIES, headers=admin.headers, json=body), 201)
    assert plan["defaultLimit"] == {
        "type": "BandwidthLimit",
        "requestCount": None,
        "bandwidth": {"timeUnit": "day", "unitTime": 1, "dataAmount": 500, "dataUnit": "MB"},
    }
    assert plan["customAttributes"] == [{"name": "team", "value": "data"}]
    assert plan["billingPlan"] == "FREE"
    assert plan["displayName"] == "Bulk"


def test_tiered_prices_and_included_requests(http: httpx.Client, admin: Caller) -> None:
    body = commercial_plan("Tiered")
    body["monetization"] = {
        "monetizationPlan": "DynamicRate",
        "properties": {"currencyType": "USD", "billingCycle": "month", "includedRequests": "1000"},
        "tiers": [{"upTo": 10000, "unitPrice": "0.001"}, {"upTo": None, "unitPrice": "0.0005"}],
        "tierMode": "VOLUME",
    }
    plan = expect(http.post(POLICIES, headers=admin.headers, json=body), 201)
    monetization = plan["monetization"]
    assert monetization["tiers"] == [
        {"upTo": 10000, "unitPrice": "0.001", "flatAmount": "0"},
        {"upTo": None, "unitPrice": "0.0005", "flatAmount": "0"},
    ]
    assert monetization["tierMode"] == "volume"
    assert monetization["properties"]["includedRequests"] == 1000
    assert monetization["properties"]["pricePerRequest"] is None

    # Replacing the tiers replaces the rows (positions are unique per plan).
    monetization["tiers"] = [
        {"upTo": 5, "unitPrice": "1", "flatAmount": "0"},
        {"upTo": None, "unitPrice": "0.5", "flatAmount": "2.5"},
    ]
    updated = expect(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=plan), 200)
    assert updated["monetization"]["tiers"] == monetization["tiers"]


def test_a_get_body_can_be_put_back_and_bumps_the_revision(
    http: httpx.Client, admin: Caller, runtime: Runtime
) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Roundtrip")), 201)
    fetched = expect(http.get(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200)
    before = config_version(runtime)
    fetched["monetization"]["properties"]["pricePerRequest"] = "0.0005"
    fetched["description"] = "now dearer"
    updated = expect(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=fetched), 200)
    assert updated["monetization"]["properties"]["pricePerRequest"] == "0.0005"
    assert updated["description"] == "now dearer"
    assert config_version(runtime) > before
    with runtime.session_factory() as session:
        row = session.get(SubscriptionPolicy, plan["policyId"])
        assert row is not None and row.revision == 2


def field_error(http: httpx.Client, caller: Caller, body: Any, field: str) -> None:
    before = names(http, caller)
    response = http.post(POLICIES, headers=caller.headers, json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["description"], response.json()
    assert names(http, caller) == before  # nothing written


def _with_props(**props: Any) -> dict[str, Any]:
    body = commercial_plan("Bad")
    body["monetization"]["properties"].update(props)
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with_props(pricePerRequest="abc"), "monetization.properties.pricePerRequest"),
        (_with_props(pricePerRequest="-0.1"), "monetization.properties.pricePerRequest"),
        (_with_props(pricePerRequest=0.0004), "monetization.properties.pricePerRequest"),
        (_with_props(pricePerRequest="NaN"), "monetization.properties.pricePerRequest"),
        (_with_props(currencyType="XYZ"), "monetization.properties.currencyType"),
        (_with_props(currencyType=None), "monetization.properties.currencyType"),
        (_with_props(billingCycle="fortnight"), "monetization.properties.billingCycle"),
        (_with_props(billingCycle=None), "monetization.properties.billingCycle"),
        (_with_props(fixedPrice="5"), "monetization.properties.fixedPrice"),
        (_with_props(pricePerRequest=None), "monetization.properties.pricePerRequest"),
        (_with_props(includedRequests=-1), "monetization.properties.includedRequests"),
        (_with_props(colour="red"), "colour"),
        (commercial_plan("Bad", monetization=None), "monetization"),
        (commercial_plan("Bad", billingPlan="FREE"), "monetization"),
        (commercial_plan("Bad", billingPlan="GOLDEN"), "billingPlan"),
        (commercial_plan("Bad", rateLimitTimeUnit=None), "rateLimitTimeUnit"),
        (commercial_plan("Bad", rateLimitCount="5"), "rateLimitCount"),
        (commercial_plan("Bad", stopOnQuotaReach="yes"), "stopOnQuotaReach"),
        (commercial_plan("Bad", policyName=""), "policyName"),
        (commercial_plan("Bad", policyName="a/b"), "policyName"),
        (commercial_plan("Bad", policyName="x" * 200), "policyName"),
        (commercial_plan("Bad", description="bell\u0007"), "description"),
        (commercial_plan("Bad", unknown=1), "unknown"),
        (commercial_plan("Bad", defaultLimit={"type": "RequestCountLimit"}), "defaultLimit.requestCount"),
        (
            commercial_plan("Bad", defaultLimit={"type": "BandwidthLimit", "requestCount": None}),
            "defaultLimit.bandwidth",
        ),
        (
            commercial_plan(
                "Bad",
                defaultLimit={
                    "type": "RequestCountLimit",
                    "requestCount": {"timeUnit": "eon", "requestCount": 1},
                },
            ),
            "defaultLimit.requestCount.timeUnit",
        ),
        (
            commercial_plan(
                "Bad",
                defaultLimit={
                    "type": "RequestCountLimit",
                    "requestCount": {"timeUnit": "min", "requestCount": 1.5},
                },
            ),
            "defaultLimit.requestCount.requestCount",
        ),
        (
            commercial_plan(
                "Bad",
                monetization={
                    "monetizationPlan": "DynamicRate",
                    "properties": {"currencyType": "USD", "billingCycle": "month"},
                    "tiers": [{"upTo": 10, "unitPrice": "0.1"}],
                },
            ),
            "monetization.tiers",
        ),
        (
            commercial_plan(
                "Bad",
                monetization={
                    "monetizationPlan": "DynamicRate",
                    "properties": {"currencyType": "USD", "billingCycle": "month"},
                    "tiers": [{"upTo": None, "unitPrice": "cheap"}],
                },
            ),
            "monetization.tiers[0].unitPrice",
        ),
        (
            commercial_plan(
                "Bad", monetization={"properties": {"currencyType": "USD", "billingCycle": "month"}}
            ),
            "monetization.monetizationPlan",
        ),
        (
            commercial_plan(
                "Bad",
                monetization={
                    "monetizationPlan": "FixedRate",
                    "properties": {
                        "fixedPrice": "1",
                        "pricePerRequest": "0.1",
                        "currencyType": "USD",
                        "billingCycle": "month",
                    },
                },
            ),
            "monetization.properties.pricePerRequest",
        ),
    ],
)
def test_bad_plans_are_refused_naming_the_field(
    http: httpx.Client, admin: Caller, body: Any, field: str
) -> None:
    field_error(http, admin, body, field)


def test_a_free_plan_may_carry_wso2s_empty_price_fields(http: httpx.Client, admin: Caller) -> None:
    # WSO2's admin portal sends the monetization block with empty prices for a free plan.
    body = commercial_plan("Free")
    body["billingPlan"] = "FREE"
    body["monetization"] = {
        "monetizationPlan": "FixedRate",
        "properties": {"fixedPrice": "", "pricePerRequest": "", "currencyType": "", "billingCycle": "week"},
    }
    plan = expect(http.post(POLICIES, headers=admin.headers, json=body), 201)
    assert plan["billingPlan"] == "FREE" and plan["monetization"] is None


def test_duplicate_names_conflict(http: httpx.Client, admin: Caller) -> None:
    expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Twice")), 201)
    response = http.post(POLICIES, headers=admin.headers, json=commercial_plan("Twice"))
    assert response.status_code == 409 and "Twice" in response.json()["description"]
    assert names(http, admin).count("Twice") == 1
    expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Gold")), 409)


def test_the_same_name_in_another_tenant_is_fine(
    http: httpx.Client, admin: Caller, identity: OrmIdentity
) -> None:
    other = identity.user("boss", [ROLE_ADMIN], tenant="acme.com")
    expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Shared")), 201)
    expect(http.post(POLICIES, headers=other.headers, json=commercial_plan("Shared")), 201)


def test_a_plan_cannot_be_renamed_or_given_another_id(http: httpx.Client, admin: Caller) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Fixed")), 201)
    renamed = copy.deepcopy(plan) | {"policyName": "Other"}
    assert (
        "policyName"
        in expect(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=renamed), 400)[
            "description"
        ]
    )
    moved = copy.deepcopy(plan) | {"policyId": "someone-else"}
    expect(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=moved), 400)


def test_unknown_ids_are_404(http: httpx.Client, admin: Caller) -> None:
    for method in ("GET", "DELETE"):
        expect(http.request(method, f"{POLICIES}/no-such-plan", headers=admin.headers), 404)
    expect(http.put(f"{POLICIES}/no-such-plan", headers=admin.headers, json=commercial_plan("X")), 404)
    expect(http.get(f"{POLICIES}/%00", headers=admin.headers), 404)


def test_delete_an_unused_plan(http: httpx.Client, admin: Caller, runtime: Runtime) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Gone")), 201)
    before = config_version(runtime)
    expect(http.delete(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200)
    expect(http.get(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 404)
    assert config_version(runtime) > before


def test_a_plan_in_use_cannot_be_deleted(
    http: httpx.Client, admin: Caller, publisher: Caller, subscriber: Caller, runtime: Runtime
) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Busy")), 201)
    api = expect(
        http.post(f"{PUBLISHER}/apis", headers=publisher.headers, json=new_api(policies=["Busy"])), 201
    )
    response = http.delete(f"{POLICIES}/{plan['policyId']}", headers=admin.headers)
    assert response.status_code == 409 and "Pizza:1.0.0" in response.json()["description"]

    # Used by a subscription even after the API stops offering it.
    expect(
        http.post(
            f"{PUBLISHER}/apis/change-lifecycle",
            headers=publisher.headers,
            params={"apiId": api["id"], "action": "Publish"},
        ),
        200,
    )
    monetize(http, publisher, api["id"])
    app = expect(http.post(f"{STORE}/applications", headers=subscriber.headers, json={"name": "A"}), 201)
    expect(
        http.post(
            f"{STORE}/subscriptions",
            headers=subscriber.headers,
            json={"applicationId": app["applicationId"], "apiId": api["id"], "throttlingPolicy": "Busy"},
        ),
        201,
    )
    api_body = expect(http.get(f"{PUBLISHER}/apis/{api['id']}", headers=publisher.headers), 200)
    api_body["policies"] = ["Gold"]
    expect(http.put(f"{PUBLISHER}/apis/{api['id']}", headers=publisher.headers, json=api_body), 200)
    response = http.delete(f"{POLICIES}/{plan['policyId']}", headers=admin.headers)
    assert response.status_code == 409 and "subscription" in response.json()["description"]
    with runtime.session_factory() as session:
        assert session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Busy")) is not None


def test_the_billing_hooks_see_every_change(http: httpx.Client, admin: Caller, runtime: Runtime) -> None:
    hooks = RecordingHooks()
    runtime.hooks = hooks
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Hooked")), 201)
    expect(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=plan), 200)
    expect(http.delete(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200)
    assert hooks.calls == [
        ("policy_created", plan["policyId"]),
        ("policy_updated", plan["policyId"]),
        ("policy_deleting", plan["policyId"]),
    ]


def test_a_refusing_billing_engine_leaves_nothing_behind(
    http: httpx.Client, admin: Caller, runtime: Runtime
) -> None:
    runtime.hooks = RecordingHooks(refuse="policy_created")
    response = http.post(POLICIES, headers=admin.headers, json=commercial_plan("Refused"))
    assert response.status_code == 502, response.text
    assert "Refused" not in names(http, admin)

    runtime.hooks = RecordingHooks(refuse="policy_updated")
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Kept")), 201)
    changed = plan | {"description": "changed"}
    expect(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=changed), 502)
    assert (
        expect(http.get(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200)["description"]
        == "Kept plan"
    )
