"""Alert thresholds and webhook pages over real HTTP (every selected database): the developer
portal's Alerts page and an application's Webhooks, the publisher portal's tenant Webhooks; refusals
under their field with what was typed kept, the signing secret shown once, a delivery log filled by
a real dispatch to a real receiver and sent again by hand, and one run in Chromium."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select

from tests.portals.conftest import Shots
from tests.portals.helpers import no_horizontal_scroll, sign_in
from tests.portals.test_pages_http import LEAKS, NOT_YOURS, People, main_of
from tests.portals.test_spend_cap_page import METERED
from tests.portals.world import PASSWORDS, World, principal, seed
from tests.support.identity import OrmIdentity
from tests.support.rest import PUBLISHER, STORE
from tests.support.rest import expect as expect_json
from tests.support.servers import ServerThread
from tests.webhooks.receiver import receiver
from tests.webhooks.support import dispatch_until, webhook_settings
from tollway.db.session import transaction
from tollway.models import AlertThreshold, Subscription, WebhookEndpoint
from tollway.portals import services
from tollway.runtime import Runtime

SECRET = re.compile(r"whsec_[A-Za-z0-9_\-]+")


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


@pytest.fixture
def people(live_server: ServerThread, world: World) -> Iterator[People]:
    signed = People(live_server.url)
    yield signed
    for person in signed.values():
        person.close()


def field_error(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="error-{testid}">([^<]*)<', page)
    assert found, f"no error-{testid} on the page"
    return html.unescape(found.group(1)).lower()


def thresholds(runtime: Runtime) -> list[tuple[str, str | None, str | None, str | None]]:
    with transaction(runtime.session_factory) as db:
        return [
            (
                t.subject,
                t.currency,
                format(t.amount.normalize(), "f") if t.amount else None,
                t.subscription_id,
            )
            for t in db.scalars(select(AlertThreshold).order_by(AlertThreshold.created_at))
        ]


def metered(runtime: Runtime, subscription_id: str) -> None:
    """The subscription on a plan with a price per call (as if its subscriber had changed plan)."""
    with transaction(runtime.session_factory) as db:
        plan = services.create_plan(db, runtime, principal(runtime, "admin"), METERED)
    with transaction(runtime.session_factory) as db:
        sub = db.get(Subscription, subscription_id)
        assert sub is not None
        sub.policy_id = plan["policyId"]


# ---------------------------------------------------------------------------------------------
# Alerts


def test_a_subscriber_adds_and_deletes_alert_thresholds(
    people: People, world: World, runtime: Runtime
) -> None:
    sue = people["sue"]
    page = sue.get("/devportal/alerts")
    assert page.status_code == 200
    assert '<a href="/devportal/alerts" aria-current="page">Alerts</a>' in page.text
    assert 'data-testid="no-thresholds"' in page.text
    assert "Orders 2.0.0 · sue-app" in page.text  # the subscriptions to choose from

    added = sue.post("/devportal/alerts", subject="WALLET", currency="usd", amount="5")
    assert added.status_code == 303 and added.headers["location"] == "/devportal/alerts"
    metered(runtime, world.subs["sue"])
    spend = sue.post(
        "/devportal/alerts", subject="SPEND", subscriptionId=world.subs["sue"], percent="", amount="20"
    )
    assert spend.status_code == 303, spend.text
    assert thresholds(runtime) == [
        ("WALLET", "USD", "5", None),
        ("SPEND", "USD", "20", world.subs["sue"]),
    ]
    shown = sue.get("/devportal/alerts").text
    assert "The alert was added." in shown
    assert "the balance falls below 5.00 USD" in shown and "USD wallet" in shown
    assert "the period's spend reaches 20.00 USD" in shown and "Orders 2.0.0 · sue-app" in shown
    # The REST API lists the same thresholds.
    token = OrmIdentity(runtime).login("sue")
    listed = expect_json(sue.http.get(f"{STORE}/alert-thresholds", headers=token.headers), 200)
    assert [t["subject"] for t in listed["list"]] == ["WALLET", "SPEND"]

    # Another subscriber can neither see nor delete them.
    tom = people["tom"]
    assert "5.00 USD" not in tom.get("/devportal/alerts").text
    wallet_id = listed["list"][0]["thresholdId"]
    assert tom.post(f"/devportal/alerts/{wallet_id}/delete").status_code == 404
    assert (
        tom.post(
            "/devportal/alerts", subject="SPEND", subscriptionId=world.subs["sue"], percent="50"
        ).status_code
        == 404
    )
    assert len(thresholds(runtime)) == 2

    deleted = sue.post(f"/devportal/alerts/{wallet_id}/delete")
    assert deleted.status_code == 303
    assert thresholds(runtime) == [("SPEND", "USD", "20", world.subs["sue"])]
    assert "The alert was deleted." in sue.get("/devportal/alerts").text


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"subject": "WALLET", "currency": "USD", "amount": "abc"}, "amount", "decimal number"),
        ({"subject": "WALLET", "currency": "USD", "amount": ""}, "amount", "amount is required"),
        ({"subject": "WALLET", "currency": "XYZ", "amount": "5"}, "currency", "not an iso 4217"),
        ({"subject": "SPEND", "percent": "150", "amount": ""}, "percent", "at most 100"),
        ({"subject": "SPEND", "percent": "50", "amount": ""}, "percent", "no spend cap"),
        ({"subject": "SPEND", "percent": "", "amount": ""}, "percent", "give either percent"),
        ({"subject": "SPEND", "percent": "50", "amount": "5"}, "percent", "give either percent"),
        ({"subject": "SPEND", "percent": "", "amount": "-1"}, "spend-amount", "more than 0"),
        ({"subject": "SPEND", "subscriptionId": "", "percent": "50"}, "subscriptionId", "names one of"),
    ],
)
def test_a_refused_alert_says_why_under_its_field_and_keeps_what_was_typed(
    people: People, world: World, runtime: Runtime, form: dict[str, str], field: str, words: str
) -> None:
    metered(runtime, world.subs["sue"])
    sue = people["sue"]
    sue.get("/devportal/alerts")
    sent = {"subscriptionId": world.subs["sue"]} | form if form["subject"] == "SPEND" else form
    answer = sue.post("/devportal/alerts", **sent)
    assert answer.status_code == 400
    assert words in field_error(answer.text, field)
    assert f'id="f-{field}"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "The alert was not added: correct the field marked below." in answer.text
    for name, value in sent.items():
        if value and name != "subject":
            assert f'value="{value}"' in answer.text, name  # what was typed is kept
    assert not any(leak in answer.text for leak in LEAKS)
    assert thresholds(runtime) == []


def test_a_spend_alert_on_a_plan_without_a_price_per_call_is_refused_under_the_percent(
    people: People, world: World, runtime: Runtime
) -> None:
    sue = people["sue"]
    sue.get("/devportal/alerts")
    answer = sue.post("/devportal/alerts", subject="SPEND", subscriptionId=world.subs["sue"], percent="80")
    assert answer.status_code == 400
    assert "charges nothing per call" in field_error(answer.text, "percent")
    assert 'value="80"' in answer.text and thresholds(runtime) == []


def test_a_quota_alert_is_added_in_its_own_form_and_refusals_show_under_its_fields(
    people: People, world: World, runtime: Runtime
) -> None:
    metered(runtime, world.subs["sue"])  # 100 calls a minute
    sue = people["sue"]
    page = sue.get("/devportal/alerts")
    assert 'data-testid="quota-alert-form"' in page.text and 'id="f-quota-requests"' in page.text
    sub = world.subs["sue"]
    for form, field, words in (
        ({"percent": "120"}, "percent", "at most 100"),
        ({"requests": "ten"}, "requests", "whole number"),
        ({"requests": "0"}, "requests", "whole number"),
        ({"percent": "5", "requests": "5"}, "percent", "give either percent"),
    ):
        answer = sue.post("/devportal/alerts", subject="QUOTA", subscriptionId=sub, **form)
        assert answer.status_code == 400, (form, answer.text[:300])
        assert words in field_error(answer.text, f"quota-{field}"), form
        for value in form.values():
            assert f'value="{value}"' in answer.text  # what was typed is kept
        assert not any(leak in answer.text for leak in LEAKS)
    assert thresholds(runtime) == []
    added = sue.post("/devportal/alerts", subject="QUOTA", subscriptionId=sub, requests="90")
    assert added.status_code == 303
    shown = sue.get("/devportal/alerts").text
    assert "Request quota" in shown and "reach 90" in shown
    token = OrmIdentity(runtime).login("sue")
    listed = expect_json(sue.http.get(f"{STORE}/alert-thresholds", headers=token.headers), 200)
    assert [(t["subject"], t["requests"], t["subscriptionId"]) for t in listed["list"]] == [
        ("QUOTA", 90, sub)
    ]


# ---------------------------------------------------------------------------------------------
# Webhooks of an application (developer portal)


def test_an_application_webhook_shows_its_secret_once_and_logs_deliveries(
    people: People, world: World, runtime: Runtime
) -> None:
    webhook_settings(runtime, allow_internal_targets=True)  # the receiver is on 127.0.0.1
    sue, base = people["sue"], f"/devportal/applications/{world.apps['sue']}/webhooks"
    app_page = sue.get(f"/devportal/applications/{world.apps['sue']}").text
    assert f'href="{base}"' in app_page
    empty = sue.get(base)
    assert empty.status_code == 200 and 'data-testid="no-endpoints"' in empty.text
    assert empty.headers["cache-control"] == "no-store"
    with receiver() as hooks:
        made = sue.post(base, url=hooks.url, eventTypes="subscription.blocked")
        assert made.status_code == 200, made.text
        assert "it is shown only this once and cannot be shown again" in made.text
        assert made.headers["cache-control"] == "no-store"
        found = SECRET.search(made.text)
        assert found
        secret = found.group(0)
        with transaction(runtime.session_factory) as db:
            endpoint = db.scalars(select(WebhookEndpoint)).one()
            assert endpoint.application_id == world.apps["sue"]
            assert endpoint.event_types == ["subscription.blocked"] and endpoint.url == hooks.url
        page = f"{base}/{endpoint.id}"
        for later in (base, page, f"/devportal/applications/{world.apps['sue']}"):
            shown = sue.get(later)
            assert shown.status_code == 200 and secret not in shown.text and "whsec_" not in shown.text
        listing = sue.get(base).text
        assert hooks.url in listing and "subscription.blocked" in listing and "Enabled" in listing
        assert 'data-testid="no-deliveries"' in sue.get(page).text

        # The publisher blocks sue's subscription (REST): an event for her application's endpoint.
        pat = OrmIdentity(runtime).login("pat")
        params = {"subscriptionId": world.subs["sue"], "blockState": "BLOCKED"}
        blocked = sue.http.post(
            f"{PUBLISHER}/subscriptions/block-subscription", headers=pat.headers, params=params
        )
        assert blocked.status_code == 200, blocked.text
        dispatch_until(runtime, lambda: len(hooks.delivered()) == 1)
        event = hooks.delivered()[0]
        assert event.verifies(secret)
        log = sue.get(page).text
        assert 'data-testid="event-type">subscription.blocked<' in log
        assert f'data-testid="event-id">{event.event["id"]}<' in log
        assert 'data-testid="delivery-status">SUCCEEDED<' in log and "HTTP 200" in log
        delivery = re.search(r'action="([^"]+/deliveries/[^"]+/redeliver)"', log)
        assert delivery

        again = sue.post(html.unescape(delivery.group(1)))
        assert again.status_code == 303 and again.headers["location"] == page
        after = sue.get(page).text
        assert (
            "sent again within a few seconds" in after and 'data-testid="delivery-status">PENDING<' in after
        )
        dispatch_until(runtime, lambda: len(hooks.delivered()) == 2)
        assert hooks.delivered()[1].event["id"] == event.event["id"]
        assert sue.get(page).text.count("HTTP 200") == 2

        # Another subscriber: the application, the endpoint and its actions are not found.
        tom = people["tom"]
        missing = f"/devportal/applications/{uuid.uuid4()}/webhooks"
        for theirs, nobodys in ((base, missing), (page, f"{missing}/{endpoint.id}")):
            a, b = tom.get(theirs), tom.get(nobodys)
            assert a.status_code == b.status_code == 404 and NOT_YOURS in a.text
            assert main_of(a.text) == main_of(b.text)
        tom_base = f"/devportal/applications/{world.apps['tom']}/webhooks"
        assert tom.get(f"{tom_base}/{endpoint.id}").status_code == 404
        assert tom.post(base, url="https://example.com/x").status_code == 404
        assert tom.post(html.unescape(delivery.group(1))).status_code == 404
        assert tom.post(f"{page}/delete").status_code == 404

        deleted = sue.post(f"{page}/delete")
        assert deleted.status_code == 303 and deleted.headers["location"] == base
        assert 'data-testid="no-endpoints"' in sue.get(base).text
    with transaction(runtime.session_factory) as db:
        assert db.scalars(select(WebhookEndpoint)).all() == []


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9/hook", "loopback, private or link-local"),
        ("http://10.1.2.3/hook", "loopback, private or link-local"),
        ("ftp://example.com/hook", "http:// or https://"),
        ("", "http:// or https://"),
    ],
)
def test_a_refused_endpoint_says_why_under_the_url(
    people: People, world: World, runtime: Runtime, url: str, words: str
) -> None:
    sue, base = people["sue"], f"/devportal/applications/{world.apps['sue']}/webhooks"
    sue.get(base)
    answer = sue.post(base, url=url, eventTypes="wallet.depleted")
    assert answer.status_code == 400
    assert words in field_error(answer.text, "url")
    assert "The endpoint was not added: correct the field marked below." in answer.text
    if url:
        assert f'value="{url}"' in answer.text
    assert 'value="wallet.depleted" checked' in answer.text  # the chosen events are kept too
    assert "whsec_" not in answer.text and not any(leak in answer.text for leak in LEAKS)
    with transaction(runtime.session_factory) as db:
        assert db.scalars(select(WebhookEndpoint)).all() == []


# ---------------------------------------------------------------------------------------------
# The tenant's webhooks (publisher portal)


def test_a_publisher_manages_the_tenants_webhooks_and_their_deliveries(
    people: People, world: World, runtime: Runtime
) -> None:
    pat = people["pat"]
    listed = pat.get("/publisher/webhooks")
    assert listed.status_code == 200
    assert '<a href="/publisher/webhooks" aria-current="page">Webhooks</a>' in listed.text
    with receiver() as hooks:
        # Tenant endpoints may point anywhere (the operator's own network included).
        made = pat.post("/publisher/webhooks", url=hooks.url)  # no event checked: every event
        assert made.status_code == 200, made.text
        found = SECRET.search(made.text)
        assert found
        secret = found.group(0)
        with transaction(runtime.session_factory) as db:
            endpoint = db.scalars(select(WebhookEndpoint)).one()
            assert endpoint.application_id is None and endpoint.event_types == []
        assert "Every event" in pat.get("/publisher/webhooks").text
        token = OrmIdentity(runtime).login("pat")
        params = {"subscriptionId": world.subs["tom"], "blockState": "BLOCKED"}
        url = f"{PUBLISHER}/subscriptions/block-subscription"
        assert pat.http.post(url, headers=token.headers, params=params).status_code == 200
        dispatch_until(runtime, lambda: len(hooks.delivered()) == 1)
        assert hooks.delivered()[0].verifies(secret)
        page = f"/publisher/webhooks/{endpoint.id}"
        log = pat.get(page).text
        assert secret not in log and 'data-testid="delivery-status">SUCCEEDED<' in log
        assert 'data-testid="event-type">subscription.blocked<' in log
        delivery = re.search(r'action="([^"]+/redeliver)"', log)
        assert delivery
        assert pat.post(html.unescape(delivery.group(1))).status_code == 303
        dispatch_until(runtime, lambda: len(hooks.delivered()) == 2)

        # A publisher of another tenant and a subscriber see nothing of it.
        olga = people["olga"]
        assert hooks.url not in olga.get("/publisher/webhooks").text
        assert olga.get(page).status_code == 404
        assert olga.post(f"{page}/delete").status_code == 404
        assert people["sue"].get(page).status_code in (302, 303, 403)
        assert pat.post(f"{page}/delete").status_code == 303
    with transaction(runtime.session_factory) as db:
        assert db.scalars(select(WebhookEndpoint)).all() == []


# ---------------------------------------------------------------------------------------------
# Chromium


@pytest.mark.browser
def test_a_subscriber_adds_a_webhook_and_an_alert_in_chromium(
    world: World,
    runtime: Runtime,
    live_server: ServerThread,
    new_context: Callable[..., BrowserContext],
    shots: Shots,
) -> None:
    base = live_server.url
    page = new_context().new_page()
    sign_in(page, base, "devportal", "sue", PASSWORDS["sue"])
    page.click("nav >> text=Applications")
    page.click("text=sue-app")
    page.get_by_test_id("webhooks-link").click()
    expect(page.get_by_test_id("no-endpoints")).to_be_visible()
    page.fill("#f-url", "http://127.0.0.1:9/hook")
    page.check("input[value='wallet.low_balance']")
    page.get_by_test_id("endpoint-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("error-url")).to_contain_text("loopback")
    expect(page.locator("#f-url")).to_have_value("http://127.0.0.1:9/hook")
    expect(page.locator("input[value='wallet.low_balance']")).to_be_checked()

    page.fill("#f-url", "https://hooks.example.com/tollway")
    page.get_by_test_id("endpoint-form").locator("button[type=submit]").click()
    secret = page.get_by_test_id("signing-secret")
    expect(secret).to_have_text(SECRET)
    expect(page.get_by_test_id("webhook-secret")).to_contain_text("shown only this once")
    shots(page, "devportal webhook secret shown once")
    value = secret.inner_text()
    page.goto(page.url)  # the same address again: the secret is gone
    expect(page.get_by_test_id("endpoint-row").first).to_be_visible()
    assert value not in page.content()
    expect(page.get_by_test_id("webhook-secret")).to_have_count(0)
    page.get_by_test_id("endpoint-row").first.locator("text=Deliveries").click()
    expect(page.get_by_test_id("no-deliveries")).to_be_visible()
    assert value not in page.content()

    page.click("nav >> text=Alerts")
    form = page.get_by_test_id("wallet-alert-form")
    form.locator("#f-amount").fill("2.50")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("threshold-row")).to_have_count(1)
    expect(page.get_by_test_id("thresholds")).to_contain_text("the balance falls below 2.50 USD")
    shots(page, "devportal alerts")
    assert thresholds(runtime) == [("WALLET", "USD", "2.5", None)]

    # At phone width the new pages need no sideways scrolling.
    phone = new_context(width=375, height=740).new_page()
    sign_in(phone, base, "devportal", "sue", PASSWORDS["sue"])
    hooks = f"/devportal/applications/{world.apps['sue']}/webhooks"
    phone.goto(base + hooks)
    endpoint = phone.get_by_test_id("endpoint-row").first.locator("a").first.get_attribute("href") or ""
    for path in ("/devportal/alerts", hooks, endpoint):
        answer = phone.goto(base + path)
        assert answer is not None and answer.status == 200, path
        shots(phone, f"phone {path.rsplit('/', 1)[-1]}")
        assert no_horizontal_scroll(phone), path
