"""Everyday actions the REST API has, now in the portals: a publisher blocks and unblocks a
subscription to their API, a subscriber deletes an application. A running gateway enforces each
within a second; nobody acts on another party's objects (404, nothing changed)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Dialog, expect

from tests.gateway.support import Backend, GatewayThread
from tests.portals.conftest import Shots
from tests.portals.helpers import sign_in
from tests.portals.test_pages_http import People, people
from tests.portals.world import PASSWORDS, World, principal, seed
from tests.support.monetized_gateway import LIMIT, takes_effect
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.models import Application, MonSubscription, Subscription
from tollway.portals import services
from tollway.runtime import Runtime


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend().start()
    yield server
    server.stop()


__all__ = ["people"]


@pytest.fixture
def world(runtime: Runtime, backend: Backend) -> World:
    return seed(runtime, backend.url)


@pytest.fixture
def gateway(runtime: Runtime, world: World) -> Iterator[GatewayThread]:
    with GatewayThread(runtime) as running:
        yield running


def token_of(runtime: Runtime, owner: str, app_id: str) -> dict[str, str]:
    with transaction(runtime.session_factory) as db:
        keys = services.generate_keys(db, runtime, principal(runtime, owner), app_id)
    return {"Authorization": f"Bearer {keys['token']['accessToken']}"}


def calls(gateway: GatewayThread, headers: dict[str, str]) -> Callable[[], int]:
    return lambda: (
        httpx.get(f"{gateway.url}/orders/2.0.0/status/200", headers=headers, timeout=10).status_code
    )


def status_of(runtime: Runtime, subscription_id: str) -> str | None:
    with transaction(runtime.session_factory) as db:
        found = db.get(Subscription, subscription_id)
        return found.status if found is not None else None


def test_a_publisher_blocks_and_unblocks_a_subscription_in_the_portal(
    people: People, world: World, runtime: Runtime, gateway: GatewayThread
) -> None:
    sue_calls = calls(gateway, token_of(runtime, "sue", world.apps["sue"]))
    assert takes_effect(sue_calls, 200) < LIMIT
    pat, olga = people["pat"], people["olga"]
    page = f"/publisher/apis/{world.api_id}/subscriptions"
    action = f"{page}/{world.subs['sue']}/block"
    assert "Block production" in pat.get(page).text
    assert olga.post(action, state="BLOCKED").status_code == 404
    assert status_of(runtime, world.subs["sue"]) == "UNBLOCKED"

    assert pat.post(action, state="BLOCKED").status_code == 303
    assert status_of(runtime, world.subs["sue"]) == "BLOCKED"
    assert takes_effect(sue_calls, 403) < LIMIT
    shown = pat.get(page, follow=True).text
    assert "The subscription is blocked; the gateway applies it within a second." in shown
    assert "Unblock" in shown

    refused = pat.post(action, state="BLOCKED")  # blocked already: said, nothing changes
    assert refused.status_code == 303
    assert pat.post(action, state="SOMETIMES").status_code == 303
    assert "Nothing changed" in pat.get(page).text

    assert pat.post(action, state="UNBLOCKED").status_code == 303
    assert takes_effect(sue_calls, 200) < LIMIT
    # Tom's subscription was never touched.
    assert status_of(runtime, world.subs["tom"]) == "UNBLOCKED"


def test_a_subscriber_deletes_an_application_and_its_keys_stop_at_once(
    people: People, world: World, runtime: Runtime, gateway: GatewayThread
) -> None:
    sue_calls = calls(gateway, token_of(runtime, "sue", world.apps["sue"]))
    assert takes_effect(sue_calls, 200) < LIMIT
    sue, tom = people["sue"], people["tom"]
    url = f"/devportal/applications/{world.apps['sue']}/delete"
    sue.get(f"/devportal/applications/{world.apps['sue']}")
    tom.get("/devportal/applications")
    assert tom.post(url).status_code == 404
    with transaction(runtime.session_factory) as db:
        assert db.get(Application, world.apps["sue"]) is not None

    assert sue.post(url).status_code == 303
    assert takes_effect(sue_calls, 401) < LIMIT
    listing = sue.get("/devportal/applications", follow=True).text
    assert "Application sue-app was deleted" in listing and "sue-app</a>" not in listing
    assert status_of(runtime, world.subs["sue"]) is None
    with transaction(runtime.session_factory) as db:
        ended = db.query(MonSubscription).filter_by(subscription_id=world.subs["sue"]).one()
        assert ended.canceled_at is not None  # its billing ends with it
    assert sue.get(f"/devportal/applications/{world.apps['sue']}").status_code == 404
    assert status_of(runtime, world.subs["tom"]) == "UNBLOCKED"


@pytest.mark.browser
def test_block_and_delete_in_chromium(
    world: World,
    runtime: Runtime,
    live_server: ServerThread,
    new_context: Callable[..., BrowserContext],
    shots: Shots,
) -> None:
    base = live_server.url
    confirmations: list[str] = []

    def accept(dialog: Dialog) -> None:
        confirmations.append(dialog.message)
        dialog.accept()

    pat = new_context().new_page()
    pat.on("dialog", accept)
    sign_in(pat, base, "publisher", "pat", PASSWORDS["pat"])
    pat.goto(f"{base}/publisher/apis/{world.api_id}/subscriptions")
    row = pat.get_by_test_id("subscription-row").filter(has_text="sue-app")
    row.get_by_role("button", name="Block", exact=True).click()
    expect(row.get_by_test_id("subscription-status")).to_have_text("Blocked")
    assert confirmations and "sue-app" in confirmations[-1]
    shots(pat, "publisher subscription blocked")
    row.get_by_role("button", name="Unblock").click()
    expect(row.get_by_test_id("subscription-status")).to_have_text("Active")
    assert status_of(runtime, world.subs["sue"]) == "UNBLOCKED"

    sue = new_context().new_page()
    sue.on("dialog", accept)
    sign_in(sue, base, "devportal", "sue", PASSWORDS["sue"])
    sue.goto(f"{base}/devportal/applications/{world.apps['sue']}")
    sue.get_by_test_id("delete-application").click()
    expect(sue.locator("main")).to_contain_text("Application sue-app was deleted")
    assert "sue-app" in confirmations[-1]
    shots(sue, "devportal application deleted")
    assert status_of(runtime, world.subs["sue"]) is None


def test_a_publisher_edits_an_api_and_deletes_one_without_subscribers(
    people: People, world: World, runtime: Runtime, gateway: GatewayThread, backend: Backend
) -> None:
    pat, olga = people["pat"], people["olga"]
    form = pat.get(f"/publisher/apis/{world.api_id}/edit")
    assert form.status_code == 200 and 'value="/orders"' in form.text and "Edit the API" in form.text
    assert olga.get(f"/publisher/apis/{world.api_id}/edit").status_code == 404

    edit = {
        "name": "Orders",
        "context": "/orders",
        "version": "2.0.0",
        "endpoint": f"{backend.url}/echo",
        "description": "Orders, now echoed",
        "policies": "Gold Paid",
    }
    assert olga.post(f"/publisher/apis/{world.api_id}/edit", **edit).status_code == 404
    refused = pat.post(f"/publisher/apis/{world.api_id}/edit", **(edit | {"name": ""}))
    assert refused.status_code == 400 and "Name" in refused.text
    assert 'value="Orders, now echoed"' in refused.text or "Orders, now echoed" in refused.text
    assert pat.post(f"/publisher/apis/{world.api_id}/edit", **edit).status_code == 303
    overview = pat.get(f"/publisher/apis/{world.api_id}", follow=True).text
    assert "API Orders was updated." in overview and "Orders, now echoed" in overview
    assert f"{backend.url}/echo" in overview and "Bronze" not in overview.split("Business plans")[1][:200]
    # The gateway forwards to the new endpoint within a second.
    sue = token_of(runtime, "sue", world.apps["sue"])

    def echoed() -> int:
        answer = httpx.get(f"{gateway.url}/orders/2.0.0/status/200", headers=sue, timeout=10)
        return 1 if answer.status_code == 200 and answer.json().get("path", "").startswith("/echo") else 0

    assert takes_effect(echoed, 1) < LIMIT

    refused = pat.post(f"/publisher/apis/{world.api_id}/delete")
    assert refused.status_code == 200 and "subscription(s)" in refused.text
    with transaction(runtime.session_factory) as db:
        spare = services.create_api(
            db,
            runtime,
            principal(runtime, "pat"),
            {
                "name": "Spare",
                "context": "/spare",
                "version": "1.0.0",
                "policies": ["Bronze"],
                "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend.url}},
            },
        )
    assert olga.post(f"/publisher/apis/{spare['id']}/delete").status_code == 404
    assert pat.post(f"/publisher/apis/{spare['id']}/delete").status_code == 303
    assert "API Spare 1.0.0 was deleted." in pat.get("/publisher/apis", follow=True).text
    assert pat.get(f"/publisher/apis/{spare['id']}").status_code == 404


def test_a_subscriber_generates_and_revokes_an_api_key(
    people: People, world: World, runtime: Runtime, gateway: GatewayThread
) -> None:
    sue, tom = people["sue"], people["tom"]
    page = f"/devportal/applications/{world.apps['sue']}"
    sue.get(page)
    refused = sue.post(f"{page}/api-keys", validity="42")
    assert refused.status_code == 400 and "Validity" in refused.text
    made = sue.post(f"{page}/api-keys", validity="3600")
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    found = re.search(r'data-testid="api-key">([^<]+)<', made.text)
    assert found
    key = found.group(1)
    assert key not in sue.get(page).text  # shown once
    keyed = calls(gateway, {"apikey": key})
    assert takes_effect(keyed, 200) < LIMIT

    tom.get("/devportal/applications")
    assert tom.post(f"{page}/api-keys/revoke", apikey=key).status_code == 404
    wrong = sue.post(f"{page}/api-keys/revoke", apikey="not-a-key")
    assert wrong.status_code == 400 and "No such PRODUCTION API key for this application." in wrong.text
    assert keyed() == 200
    assert sue.post(f"{page}/api-keys/revoke", apikey=key).status_code == 303
    assert takes_effect(keyed, 401) < LIMIT
