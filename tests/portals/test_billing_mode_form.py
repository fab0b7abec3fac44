"""The admin portal's plan form sets a plan's billing mode (postpaid or prepaid) and its default
spend cap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.portals.test_pages_http import LEAKS, People
from tests.portals.world import World, seed
from tests.support.servers import ServerThread
from tollway.models import SubscriptionPolicy
from tollway.runtime import Runtime


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


@pytest.fixture
def people(live_server: ServerThread, world: World) -> Iterator[People]:
    signed = People(live_server.url)
    yield signed
    for person in signed.values():
        person.close()


def mode_of(runtime: Runtime, name: str) -> str:
    with runtime.session_factory() as session:
        mode = session.scalar(select(SubscriptionPolicy.billing_mode).where(SubscriptionPolicy.name == name))
    assert mode is not None
    return mode


def selected_mode(page: str) -> str:
    field = re.search(r'<select id="f-billingMode"[^>]*>(.*?)</select>', page, re.S)
    assert field, "no billing mode on the form"
    chosen = re.search(r'<option value="([A-Z]+)" selected>', field.group(1))
    assert chosen
    return chosen.group(1)


def test_a_prepaid_plan_is_made_and_edited_in_the_form(people: People, runtime: Runtime) -> None:
    admin = people["admin"]
    assert selected_mode(admin.get("/admin/plans/new").text) == "POSTPAID"
    fields = {
        "policyName": "Wallet",
        "billingPlan": "COMMERCIAL",
        "billingMode": "PREPAID",
        "monetizationPlan": "DynamicRate",
        "pricePerRequest": "0.0004",
        "currencyType": "USD",
        "billingCycle": "month",
        "requestCount": "100",
    }
    assert admin.post("/admin/plans/new", **fields).status_code == 303
    assert mode_of(runtime, "Wallet") == "PREPAID"
    with runtime.session_factory() as session:
        policy_id = session.scalar(select(SubscriptionPolicy.id).where(SubscriptionPolicy.name == "Wallet"))
    edit = admin.get(f"/admin/plans/{policy_id}")
    assert selected_mode(edit.text) == "PREPAID"
    assert (
        admin.post(f"/admin/plans/{policy_id}", **(fields | {"billingMode": "POSTPAID"})).status_code == 303
    )
    assert mode_of(runtime, "Wallet") == "POSTPAID"


def test_a_free_plan_cannot_be_prepaid(people: People, runtime: Runtime) -> None:
    admin = people["admin"]
    admin.get("/admin/plans/new")
    answer = admin.post(
        "/admin/plans/new",
        policyName="FreeWallet",
        billingPlan="FREE",
        billingMode="PREPAID",
        requestCount="5",
    )
    assert answer.status_code == 400
    assert "Billing mode" in answer.text and "PREPAID" in answer.text
    assert selected_mode(answer.text) == "PREPAID"  # what was chosen is kept
    assert not any(leak in answer.text for leak in LEAKS)
    with runtime.session_factory() as session:
        assert (
            session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "FreeWallet")) is None
        )


def cap_of(runtime: Runtime, name: str) -> object:
    with runtime.session_factory() as session:
        return session.scalar(
            select(SubscriptionPolicy.default_spend_cap).where(SubscriptionPolicy.name == name)
        )


def test_a_plans_default_spend_cap_is_set_shown_and_removed_in_the_form(
    people: People, runtime: Runtime
) -> None:
    admin = people["admin"]
    admin.get("/admin/plans/new")
    fields = {
        "policyName": "Capped",
        "billingPlan": "COMMERCIAL",
        "billingMode": "POSTPAID",
        "monetizationPlan": "DynamicRate",
        "pricePerRequest": "0.0004",
        "currencyType": "USD",
        "billingCycle": "month",
        "requestCount": "100",
        "defaultSpendCap": "25.50",
    }
    assert admin.post("/admin/plans/new", **fields).status_code == 303
    assert cap_of(runtime, "Capped") == Decimal("25.50")
    with runtime.session_factory() as session:
        policy_id = session.scalar(select(SubscriptionPolicy.id).where(SubscriptionPolicy.name == "Capped"))
    assert 'value="25.5"' in admin.get(f"/admin/plans/{policy_id}").text
    # Emptied: the plan has no default cap any more.
    assert admin.post(f"/admin/plans/{policy_id}", **(fields | {"defaultSpendCap": ""})).status_code == 303
    assert cap_of(runtime, "Capped") is None
    # A prepaid plan has its wallet instead: refused under the field, what was typed kept.
    refused = admin.post(
        "/admin/plans/new", **(fields | {"policyName": "PrepaidCapped", "billingMode": "PREPAID"})
    )
    assert refused.status_code == 400
    assert "Default spend cap" in refused.text and 'value="25.50"' in refused.text
    assert not any(leak in refused.text for leak in LEAKS)
    assert cap_of(runtime, "PrepaidCapped") is None
