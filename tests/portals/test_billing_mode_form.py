"""The admin portal's plan form sets a plan's billing mode (postpaid or prepaid)."""

from __future__ import annotations

import re
from collections.abc import Iterator

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
