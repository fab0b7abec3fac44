"""The monetization manual, end to end, in a real browser (Debian's Chromium via Playwright).

Step 1: the admin creates a paid business plan. Step 2: the publisher creates, publishes and
monetizes an API. Step 3: a subscriber signs up, subscribes with the plan (seeing its price) and
generates a token. Calls go through the gateway to a loopback backend. Step 4: usage is published
from the admin page. Step 5: the subscriber's and the publisher's View Invoice show the amount.
Then the publisher disables monetization. Every page visited is saved as a screenshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.gateway.support import Backend, GatewayThread
from tests.portals.conftest import Shots
from tests.portals.helpers import add_user, sign_in, sign_out
from tests.support.servers import ServerThread
from tollway.identity.roles import ROLE_CREATOR, ROLE_PUBLISHER
from tollway.runtime import Runtime

pytestmark = pytest.mark.browser

CALLS = 7
PRICE = "0.05"  # USD per request: 7 calls -> 0.35 USD


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend().start()
    yield server
    server.stop()


@pytest.fixture
def gateway(runtime: Runtime) -> Iterator[GatewayThread]:
    with GatewayThread(runtime) as running:
        yield running


def admin_creates_the_plan(page: Page, base: str, shots: Shots) -> None:
    sign_in(page, base, "admin", "admin", "admin")
    page.click("text=Add business plan")
    page.fill("#f-policyName", "Metered")
    page.fill("#f-displayName", "Metered")
    page.fill("#f-description", "Pay per call")
    page.fill("#f-requestCount", "10000")
    page.select_option("#f-billingPlan", "COMMERCIAL")
    page.select_option("#f-monetizationPlan", "DynamicRate")
    page.fill("#f-pricePerRequest", PRICE)
    page.fill("#f-currencyType", "USD")
    page.select_option("#f-billingCycle", "month")
    shots(page, "admin plan form")
    page.click("text=Save")
    expect(page.locator(".notice")).to_have_text("Business plan Metered was created.")
    shots(page, "admin plans")
    sign_out(page)


def publisher_creates_publishes_and_monetizes(page: Page, base: str, backend_url: str, shots: Shots) -> str:
    sign_in(page, base, "publisher", "pat", "pat-password")
    expect(page).to_have_url(f"{base}/publisher/apis")
    page.click("text=Create API")
    page.fill("#f-name", "PizzaShack")
    page.fill("#f-context", "/pizzashack")
    page.fill("#f-version", "1.0.0")
    page.fill("#f-endpoint", f"{backend_url}/echo")
    page.check("input[name=policies][value=Metered]")
    shots(page, "publisher create api")
    page.click("form.stack button[type=submit]")
    expect(page.locator(".notice")).to_have_text("API PizzaShack was created.")
    api_id = page.url.rsplit("/", 1)[-1]

    page.click("text=Monetization")
    page.check("#f-enabled")
    page.click("text=Save")
    # Monetizing needs a published API: the refusal is shown in words, on the tab.
    expect(page.get_by_test_id("form-error")).to_contain_text("PUBLISHED")
    shots(page, "publisher monetization refused")

    page.click("nav.tabs >> text=Overview")
    page.click("button:has-text('Publish')")
    expect(page.get_by_test_id("lifecycle")).to_have_text("PUBLISHED")
    shots(page, "publisher api published")

    page.click("text=Monetization")
    expect(page.locator("label[for=f-prop-ConnectedAccountKey]")).to_contain_text("Connected account key")
    expect(page.locator("form[data-testid=monetization-form]")).to_contain_text(
        "connected account of the publisher"
    )
    page.check("#f-enabled")
    page.fill("#f-prop-ConnectedAccountKey", "acct_publisher_pat")
    page.click("text=Save")
    expect(page.locator(".notice")).to_have_text("Monetization was enabled.")
    expect(page.locator("#f-enabled")).to_be_checked()
    expect(page.locator("form[data-testid=monetization-form]")).to_contain_text("Metered")
    shots(page, "publisher monetization enabled")
    sign_out(page)
    return api_id


def subscriber_signs_up_subscribes_and_gets_a_token(page: Page, base: str, shots: Shots) -> tuple[str, str]:
    page.goto(f"{base}/devportal")
    shots(page, "devportal catalog anonymous")
    page.click("text=Sign up")
    page.fill("#f-username", "sue")
    page.fill("#f-email", "sue@example.com")
    page.fill("#f-password", "sue-password")
    page.fill("#f-confirm", "sue-password")
    shots(page, "devportal sign up")
    page.click("form.stack button[type=submit]")
    expect(page.get_by_test_id("signed-in-as")).to_have_text("sue")

    page.click("nav >> text=Applications")
    page.fill("#f-name", "PizzaApp")
    page.click("text=Create application")
    expect(page.locator(".notice")).to_have_text("Application PizzaApp was created.")

    page.click("nav >> text=APIs")
    page.click("text=PizzaShack")
    plan = page.get_by_test_id("plan-Metered")
    expect(plan).to_contain_text("0.05 USD per request")
    option = page.locator("#f-throttlingPolicy option[value=Metered]")
    expect(option).to_contain_text("0.05 USD per request")
    page.select_option("#f-throttlingPolicy", "Metered")
    shots(page, "devportal api with plans")
    page.click("form[data-testid=subscribe-form] button")
    expect(page.locator(".notice")).to_contain_text("Subscribed with the Metered plan.")
    subscription_id = page.url.rsplit("/", 1)[-1]
    shots(page, "devportal subscription")

    page.click("nav >> text=Applications")
    page.click("text=PizzaApp")
    page.click("text=Generate keys")
    secrets = page.get_by_test_id("secrets")
    expect(secrets).to_be_visible()
    consumer_secret = page.get_by_test_id("consumer-secret").inner_text()
    shots(page, "devportal keys generated")
    # A fresh token from the secret, as the manual's developer would after losing the first one.
    page.fill("#f-consumerSecret", consumer_secret)
    page.click("text=Generate access token")
    token = page.get_by_test_id("access-token").inner_text()
    assert len(token) > 20
    shots(page, "devportal token generated")
    return subscription_id, token


def call_through_gateway(gateway_url: str, token: str) -> None:
    deadline = time.monotonic() + 15
    with httpx.Client(timeout=5) as http:
        # The gateway picks up the new subscription and token within its poll interval.
        while True:
            first = http.get(
                f"{gateway_url}/pizzashack/1.0.0/orders", headers={"Authorization": f"Bearer {token}"}
            )
            if first.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert first.status_code == 200, first.text
        assert first.json()["path"] == "/echo/orders"
        for _ in range(CALLS - 1):
            answer = http.get(
                f"{gateway_url}/pizzashack/1.0.0/orders", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200


def test_monetizing_an_api_as_the_manual_describes(
    live_server: ServerThread,
    runtime: Runtime,
    backend: Backend,
    gateway: GatewayThread,
    new_context: Callable[..., BrowserContext],
    shots: Shots,
) -> None:
    base = live_server.url
    add_user(runtime, "pat", "pat-password", ROLE_PUBLISHER, ROLE_CREATOR)
    admin = new_context().new_page()
    publisher = new_context().new_page()
    subscriber = new_context().new_page()

    admin_creates_the_plan(admin, base, shots)
    api_id = publisher_creates_publishes_and_monetizes(publisher, base, backend.url, shots)
    subscription_id, token = subscriber_signs_up_subscribes_and_gets_a_token(subscriber, base, shots)
    call_through_gateway(gateway.url, token)

    # The usage chart counts the calls as soon as the gateway has stored them.
    deadline = time.monotonic() + 10
    while True:
        subscriber.goto(f"{base}/devportal/subscriptions/{subscription_id}")
        if (
            subscriber.get_by_test_id("billable-total").inner_text() == str(CALLS)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.3)
    expect(subscriber.get_by_test_id("billable-total")).to_have_text(str(CALLS))
    expect(subscriber.locator("[data-testid=usage-chart] svg rect.bar")).not_to_have_count(0)
    shots(subscriber, "devportal usage chart")

    # Before publishing, the engine has no usage: the invoice is for nothing yet.
    subscriber.click("text=View Invoice")
    expect(subscriber.get_by_test_id("invoice-total")).to_have_text("0.00")
    shots(subscriber, "devportal invoice before publishing")

    # Step 4: publish usage from the admin page and watch the job finish (usage settles for 2 s).
    time.sleep(2.2)
    sign_in(admin, base, "admin", "admin", "admin")
    admin.click("nav >> text=Monetization")
    shots(admin, "admin monetization")
    assert admin.evaluate("typeof htmx") == "object"  # the vendored htmx is served and loaded
    admin.click("[data-testid=publish-usage]")
    expect(admin.get_by_test_id("job-state")).to_have_text("COMPLETED")
    expect(admin.get_by_test_id("job-status")).to_have_text("SUCCESSFUL")
    # htmx swapped the status in place: no full-page round trip (which would have left a notice).
    expect(admin.locator(".notice")).to_have_count(0)
    shots(admin, "admin usage published")

    # Step 5: both portals' View Invoice show the amount: 7 calls x 0.05 USD.
    subscriber.reload()
    expect(subscriber.get_by_test_id("invoice-total")).to_have_text("0.35")
    expect(subscriber.get_by_test_id("invoice")).to_contain_text("7")
    shots(subscriber, "devportal invoice")

    sign_in(publisher, base, "publisher", "pat", "pat-password")
    publisher.goto(f"{base}/publisher/apis/{api_id}")
    publisher.click("nav.tabs >> text=Subscriptions")
    row = publisher.locator("[data-testid=subscriptions] tr", has_text="PizzaApp")
    expect(row).to_contain_text("sue")
    shots(publisher, "publisher subscriptions")
    row.locator("text=View Invoice").click()
    expect(publisher.get_by_test_id("invoice-total")).to_have_text("0.35")
    shots(publisher, "publisher invoice")
    publisher.click("nav.tabs >> text=Revenue")
    expect(publisher.get_by_test_id("revenue-total")).to_have_text("0.35 USD")
    shots(publisher, "publisher revenue")

    # Disable monetization (the manual's last section).
    publisher.click("nav.tabs >> text=Monetization")
    publisher.uncheck("#f-enabled")
    publisher.click("text=Save")
    expect(publisher.locator(".notice")).to_have_text("Monetization was disabled.")
    expect(publisher.locator("#f-enabled")).not_to_be_checked()
    shots(publisher, "publisher monetization disabled")
