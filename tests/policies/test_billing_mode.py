"""A business plan's billing mode: POSTPAID (invoiced, the default) or PREPAID (paid from a wallet)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.identity import Caller
from tests.support.rest import POLICIES, commercial_plan, config_version, expect
from tollway.models import SubscriptionPolicy
from tollway.runtime import Runtime


def fixed_rate(name: str, **changes: Any) -> dict[str, Any]:
    body = commercial_plan(
        name,
        monetization={
            "monetizationPlan": "FixedRate",
            "properties": {"fixedPrice": "10", "currencyType": "USD", "billingCycle": "month"},
        },
    )
    body.update(changes)
    return body


def stored_mode(runtime: Runtime, policy_id: str) -> str:
    with runtime.session_factory() as session:
        row = session.get(SubscriptionPolicy, policy_id)
        assert row is not None
        return row.billing_mode


def test_plans_are_postpaid_unless_told(http: httpx.Client, admin: Caller, runtime: Runtime) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Metered")), 201)
    assert plan["billingMode"] == "POSTPAID"
    assert stored_mode(runtime, plan["policyId"]) == "POSTPAID"
    listed = expect(http.get(POLICIES, headers=admin.headers), 200)["list"]
    assert {p["billingMode"] for p in listed} == {"POSTPAID"}  # WSO2's free default plans too


@pytest.mark.parametrize("body", [commercial_plan("Prepaid"), fixed_rate("Prepaid")])
def test_a_monetized_plan_can_be_prepaid(
    http: httpx.Client, admin: Caller, runtime: Runtime, body: dict[str, Any]
) -> None:
    body["billingMode"] = "prepaid"  # any case, answered upper case
    plan = expect(http.post(POLICIES, headers=admin.headers, json=body), 201)
    assert plan["billingMode"] == "PREPAID"
    assert expect(http.get(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200) == plan
    assert stored_mode(runtime, plan["policyId"]) == "PREPAID"


def test_the_billing_mode_round_trips_through_put_and_tells_the_gateway(
    http: httpx.Client, admin: Caller, runtime: Runtime
) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Switch")), 201)
    url = f"{POLICIES}/{plan['policyId']}"
    for mode in ("PREPAID", "POSTPAID", "PREPAID"):
        before = config_version(runtime)
        fetched = expect(http.get(url, headers=admin.headers), 200)
        fetched["billingMode"] = mode
        updated = expect(http.put(url, headers=admin.headers, json=fetched), 200)
        assert updated == fetched
        assert stored_mode(runtime, plan["policyId"]) == mode
        assert config_version(runtime) > before
    # A body sent back without the field is POSTPAID again (PUT replaces the plan).
    fetched = expect(http.get(url, headers=admin.headers), 200)
    del fetched["billingMode"]
    assert expect(http.put(url, headers=admin.headers, json=fetched), 200)["billingMode"] == "POSTPAID"


@pytest.mark.parametrize(
    "body",
    [
        {
            "policyName": "FreePrepaid",
            "billingMode": "PREPAID",
            "defaultLimit": commercial_plan("x")["defaultLimit"],
        },
        commercial_plan("FreePrepaid", billingPlan="FREE", monetization=None, billingMode="PREPAID"),
        commercial_plan("OddMode", billingMode="PAY_AS_YOU_GO"),
        commercial_plan("OddMode", billingMode=1),
        commercial_plan("OddMode", billingMode=None),
    ],
)
def test_a_prepaid_plan_needs_a_price(http: httpx.Client, admin: Caller, body: dict[str, Any]) -> None:
    before = expect(http.get(POLICIES, headers=admin.headers), 200)["count"]
    response = http.post(POLICIES, headers=admin.headers, json=body)
    assert response.status_code == 400, response.text
    assert "billingMode" in response.json()["description"]
    assert expect(http.get(POLICIES, headers=admin.headers), 200)["count"] == before


def test_a_prepaid_plan_cannot_be_made_free(http: httpx.Client, admin: Caller, runtime: Runtime) -> None:
    plan = expect(
        http.post(POLICIES, headers=admin.headers, json=fixed_rate("Stays", billingMode="PREPAID")), 201
    )
    changed = dict(plan, billingPlan="FREE", monetization=None)
    response = http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=changed)
    assert response.status_code == 400 and "billingMode" in response.json()["description"], response.text
    assert expect(http.get(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200) == plan
    assert stored_mode(runtime, plan["policyId"]) == "PREPAID"
