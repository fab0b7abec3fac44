"""The developer portal's spend cap on a subscription page, over real HTTP: set, refused under its
field, removed; only on plans with a price per call; never on another subscriber's subscription."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from tests.portals.test_pages_http import People
from tests.portals.world import World, principal, seed
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.models import SpendCap, Subscription
from tollway.portals import services
from tollway.runtime import Runtime

METERED = {
    "policyName": "Metered",
    "displayName": "Metered",
    "defaultLimit": {"type": "RequestCountLimit", "requestCount": {"timeUnit": "min", "requestCount": 100}},
    "billingPlan": "COMMERCIAL",
    "monetization": {
        "monetizationPlan": "DynamicRate",
        "properties": {"pricePerRequest": "0.01", "currencyType": "USD", "billingCycle": "month"},
    },
}


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


@pytest.fixture
def people(live_server: ServerThread, world: World) -> Iterator[People]:
    signed = People(live_server.url)
    yield signed
    for person in signed.values():
        person.close()


def cap_of(runtime: Runtime, subscription_id: str) -> tuple[str, str] | None:
    with transaction(runtime.session_factory) as db:
        cap = db.get(SpendCap, subscription_id)
        return (str(cap.amount.normalize()), cap.mode) if cap is not None else None


def test_a_subscriber_caps_their_metered_subscription_from_its_page(
    people: People, world: World, runtime: Runtime
) -> None:
    sue, tom = people["sue"], people["tom"]
    page = f"/devportal/subscriptions/{world.subs['sue']}"
    assert "Spend cap" not in sue.get(page).text  # a flat monthly price: nothing to cap
    with transaction(runtime.session_factory) as db:
        metered = services.create_plan(db, runtime, principal(runtime, "admin"), METERED)
    with transaction(runtime.session_factory) as db:  # as if sue had changed plan (issue 15)
        sub = db.get(Subscription, world.subs["sue"])
        assert sub is not None
        sub.policy_id = metered["policyId"]
    shown = sue.get(page).text
    assert 'data-testid="spend-cap"' in shown and "No cap" in shown and "0.00 USD" in shown

    refused = sue.post(f"{page}/spend-cap", amount="abc", mode="HARD", action="set")
    assert refused.status_code == 400
    error = re.search(r'data-testid="error-amount">([^<]*)<', refused.text)
    assert error and "decimal number" in html.unescape(error.group(1)).lower()
    assert 'value="abc"' in refused.text and cap_of(runtime, world.subs["sue"]) is None

    saved = sue.post(f"{page}/spend-cap", amount="2.50", mode="HARD", action="set")
    assert saved.status_code == 303
    assert cap_of(runtime, world.subs["sue"]) == ("2.5", "HARD")
    after = sue.get(page).text
    assert re.search(r'data-testid="cap">2\.50 USD<', after) and "enforced" in after

    assert tom.post(f"{page}/spend-cap", amount="999", mode="SOFT", action="set").status_code == 404
    assert cap_of(runtime, world.subs["sue"]) == ("2.5", "HARD")

    removed = sue.post(f"{page}/spend-cap", amount="", mode="HARD", action="remove")
    assert removed.status_code == 303 and cap_of(runtime, world.subs["sue"]) is None
