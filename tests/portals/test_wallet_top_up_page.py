"""Buying credit on the developer portal's Wallet page, and each wallet's balance chart, over real
HTTP (every selected database): with the ledger engine the engine's refusal is shown under the
amount; bad amounts are refused under the field with what was typed kept; with the Stripe engine
the form leads to Stripe Checkout and the paid session credits the wallet (and once in Chromium)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Route, expect
from sqlalchemy import func, select

from tests.billing.stripe.conftest import (
    PLATFORM_KEY,
    WEBHOOK_SECRET,
    StripeSetup,
    set_monetization_info,
    stripe_overrides,
)
from tests.fakes.stripe_fake import StripeFake
from tests.portals.conftest import Shots
from tests.portals.helpers import add_user, no_horizontal_scroll, sign_in
from tests.portals.test_pages_http import LEAKS, Browser, People
from tests.portals.world import PASSWORDS, World, principal, seed
from tests.support.servers import ServerThread
from tollway.config import Settings, load_settings
from tollway.db.session import transaction
from tollway.identity.roles import ROLE_SUBSCRIBER
from tollway.models import DEFAULT_TENANT, SubscriptionPolicy, User, Wallet, WalletEntry
from tollway.portals import services
from tollway.portals.charts import responsive_balance_chart
from tollway.runtime import Runtime
from tollway.wallets import entries

CHECKOUT_PREFIX = "https://checkout.stripe.com/"


def counts(runtime: Runtime) -> tuple[int, int]:
    with transaction(runtime.session_factory) as db:
        wallets = db.scalar(select(func.count()).select_from(Wallet)) or 0
        made = db.scalar(select(func.count()).select_from(WalletEntry)) or 0
    return wallets, made


def field_error(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', page)
    assert found, f"no {testid} on the page"
    return html.unescape(found.group(1)).lower()


def credit(runtime: Runtime, owner: str, amount: str, kind: str = "GRANT", currency: str = "USD") -> None:
    with transaction(runtime.session_factory) as db:
        services.credit(
            db,
            principal(runtime, "admin"),
            {
                "owner": owner,
                "currency": currency,
                "amount": amount,
                "kind": kind,
                "reason": f"{kind} {amount}",
            },
        )


# ---------------------------------------------------------------------------------------------
# The ledger engine (the default): no payments taken


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


@pytest.fixture
def people(live_server: ServerThread, world: World) -> Iterator[People]:
    signed = People(live_server.url)
    yield signed
    for person in signed.values():
        person.close()


def test_the_ledger_engines_refusal_shows_under_the_amount(people: People, runtime: Runtime) -> None:
    credit(runtime, "sue", "5.00")
    sue = people["sue"]
    page = sue.get("/devportal/wallets")
    assert page.status_code == 200
    assert 'data-testid="buy-USD"' in page.text and 'id="f-amount-USD"' in page.text
    answer = sue.post("/devportal/wallets/top-ups", currency="USD", amount="10.00")
    assert answer.status_code == 400
    words = field_error(answer.text, "error-amount-USD")
    assert "takes no payments" in words and "ledger" in words and "an admin credits the wallet" in words
    form = re.search(r'data-testid="buy-USD".*?</form>', answer.text, re.S)
    assert form and 'value="10.00"' in form.group(0) and 'aria-invalid="true"' in form.group(0)
    assert '<strong data-testid="balance-USD">5.00</strong>' in answer.text  # the page is still whole
    assert not any(leak in answer.text for leak in LEAKS)
    assert counts(runtime) == (1, 1)


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("abc", "must be a decimal number"),
        ("0", "must not be 0"),
        ("-5", "must be more than 0"),
        ("0.00", "must not be 0"),
        ("1.001", "at most 2 decimal places for usd"),
        ("1e3", "must be written as digits and a decimal point"),
        ("", "amount is required"),
    ],
)
def test_a_bad_amount_is_refused_under_the_field_and_kept(
    people: People, runtime: Runtime, amount: str, words: str
) -> None:
    credit(runtime, "sue", "5.00")
    sue = people["sue"]
    sue.get("/devportal/wallets")
    answer = sue.post("/devportal/wallets/top-ups", currency="USD", amount=amount)
    assert answer.status_code == 400
    error = field_error(answer.text, "error-amount-USD")
    assert words in error and "takes no payments" not in error
    if amount:
        assert f'id="f-amount-USD" name="amount" type="text" value="{amount}"' in answer.text
    assert counts(runtime) == (1, 1)


def test_credit_in_a_currency_without_a_wallet_suggests_the_prepaid_plans_currency(
    people: People, runtime: Runtime
) -> None:
    tom = people["tom"]
    page = tom.get("/devportal/wallets").text
    assert 'data-testid="no-wallets"' in page and 'data-testid="buy-new"' in page
    assert 'data-testid="prepaid-currencies"' not in page  # tom's plan is invoiced, not prepaid
    with transaction(runtime.session_factory) as db:
        plan = db.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Gold Paid"))
        assert plan is not None
        plan.billing_mode = "PREPAID"
    page = tom.get("/devportal/wallets").text
    assert "Your prepaid plans are paid in USD." in page
    assert 'id="f-currency-new" name="currency" type="text" value="USD"' in page

    bad = tom.post("/devportal/wallets/top-ups", form="new", currency="XYZ", amount="5")
    assert bad.status_code == 400
    assert "not an iso 4217 currency code" in field_error(bad.text, "error-currency-new")
    assert 'value="XYZ"' in bad.text and 'value="5"' in bad.text
    refused = tom.post("/devportal/wallets/top-ups", form="new", currency="eur", amount="5")
    assert refused.status_code == 400
    assert "takes no payments" in field_error(refused.text, "error-amount-new")
    assert 'data-testid="error-currency-new"' not in refused.text
    assert counts(runtime) == (0, 0)


def test_a_wallets_page_charts_its_balance_over_time(people: People, runtime: Runtime, world: World) -> None:
    credit(runtime, "sue", "10.00")
    sue = people["sue"]
    one = sue.get("/devportal/wallets/USD").text
    assert 'data-testid="balance-chart"' in one and "One entry so far" in one
    assert one.count('data-balance="10.00"') == 2  # the wide and the narrow rendering
    credit(runtime, "sue", "-2.50", kind="ADJUSTMENT")
    credit(runtime, "sue", "4.00", kind="TOP_UP")
    page = sue.get("/devportal/wallets/USD").text
    chart = re.search(r'data-testid="balance-chart">(.*?)</div>', page, re.S)
    assert chart
    svg = chart.group(1).split("</svg>")[0]
    assert re.findall(r'data-balance="([^"]+)"', svg) == ["10.00", "7.50", "11.50"]
    assert "3 entries, from 10.00 to 11.50 USD" in svg and "Balance (USD)" in svg
    assert "<script" not in page.split("<main>")[1]  # drawn on the server, no chart library
    # A wallet with no entry yet (opened, nothing appended) says so instead of drawing nothing.
    with transaction(runtime.session_factory) as db:
        tom = db.scalar(select(User).where(User.username == "tom"))
        assert tom is not None
        entries.wallet_for(db, tom.tenant_id, tom.id, "EUR")
    empty = people["tom"].get("/devportal/wallets/EUR")
    assert empty.status_code == 200 and 'data-testid="no-balance-chart"' in empty.text
    assert 'data-testid="balance-chart"' not in empty.text
    # Another subscriber's wallet has no chart for them: the same page as no wallet at all.
    assert people["tom"].get("/devportal/wallets/USD").status_code == 404


def test_the_balance_chart_renders_nothing_for_no_points() -> None:
    assert responsive_balance_chart([], title="Balance", currency="USD", now=datetime.now(UTC)) == ""


# ---------------------------------------------------------------------------------------------
# The Stripe engine: the form leads to Stripe Checkout


class TestWithStripe:
    @pytest.fixture
    def stripe_fake(self) -> Iterator[StripeFake]:
        with StripeFake() as fake:
            yield fake

    @pytest.fixture
    def settings(self, tmp_path: Path, database_url: str, stripe_fake: StripeFake) -> Settings:
        return load_settings(
            None,
            environ={},
            overrides={
                "server": {"data_dir": str(tmp_path / "data")},
                "database": {"url": database_url},
                "monetization": stripe_overrides(stripe_fake.url),
            },
        )

    @pytest.fixture
    def stripe(self, runtime: Runtime, stripe_fake: StripeFake) -> StripeSetup:
        platform = stripe_fake.add_platform_account(PLATFORM_KEY)
        seller = stripe_fake.add_connected_account(PLATFORM_KEY)
        set_monetization_info(
            runtime, {"BillingEnginePlatformAccountKey": PLATFORM_KEY, "StripeWebhookSecret": WEBHOOK_SECRET}
        )
        add_user(runtime, "sue", PASSWORDS["sue"], ROLE_SUBSCRIBER)
        return StripeSetup(stripe_fake, platform, seller, runtime)

    @pytest.fixture
    def sue(self, live_server: ServerThread, stripe: StripeSetup) -> Iterator[Browser]:
        person = Browser(live_server.url)
        person.sign_in("devportal", "sue", PASSWORDS["sue"])
        yield person
        person.close()

    def test_buying_credit_leads_to_checkout_and_the_paid_session_credits_the_wallet(
        self, sue: Browser, stripe: StripeSetup, runtime: Runtime, live_server: ServerThread
    ) -> None:
        page = sue.get("/devportal/wallets")
        assert page.status_code == 200 and 'data-testid="buy-new"' in page.text
        stripe.fake.clear_requests()
        refused = sue.post("/devportal/wallets/top-ups", form="new", currency="USD", amount="1.001")
        assert refused.status_code == 400
        assert "at most 2 decimal places for usd" in field_error(refused.text, "error-amount-new")
        assert not [r for r in stripe.fake.requests if r.path.startswith("/v1/checkout")]

        answer = sue.post("/devportal/wallets/top-ups", form="new", currency="usd", amount="12.50")
        assert answer.status_code == 303, answer.text
        location = answer.headers["location"]
        assert location.startswith(CHECKOUT_PREFIX)
        session = self._only_session(stripe)
        assert location == session["url"]
        assert session["amount_total"] == 1250 and session["currency"] == "usd"
        assert session["success_url"] == f"{live_server.url}/devportal/wallets?top-up=paid"
        assert counts(runtime) == (0, 0)  # nothing is credited before Stripe says it is paid

        paid = stripe.fake.complete_checkout_session(stripe.platform, session["id"])
        payload, signature = stripe.fake.signed_event("checkout.session.completed", paid, WEBHOOK_SECRET)
        delivered = httpx.post(
            f"{live_server.url}/api/am/stripe/webhook/{DEFAULT_TENANT}",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        assert delivered.status_code == 200, delivered.text
        back = sue.get("/devportal/wallets?top-up=paid")
        assert 'data-testid="top-up-note"' in back.text
        assert '<strong data-testid="balance-USD">12.50</strong>' in back.text
        assert "paid through Stripe Checkout" in back.text
        assert counts(runtime) == (1, 1)

    @staticmethod
    def _only_session(stripe: StripeSetup) -> Any:
        """The one Checkout Session made on the platform account, as Stripe has it."""
        with stripe.fake._api.lock:  # the fake serves no list of sessions
            (session_id,) = stripe.fake._api.accounts[stripe.platform].checkout_sessions
        platform: Any = stripe.client()
        return platform.v1.checkout.sessions.retrieve(session_id)

    @pytest.mark.browser
    def test_a_subscriber_buys_credit_in_chromium(
        self,
        stripe: StripeSetup,
        runtime: Runtime,
        live_server: ServerThread,
        new_context: Callable[..., BrowserContext],
        shots: Shots,
    ) -> None:
        base = live_server.url
        credit(runtime, "sue", "2.00")
        page = new_context().new_page()
        sign_in(page, base, "devportal", "sue", PASSWORDS["sue"])
        page.click("nav >> text=Wallet")
        buy = page.get_by_test_id("buy-USD")
        buy.locator("#f-amount-USD").fill("abc")
        buy.locator("button[type=submit]").click()
        error = page.get_by_test_id("error-amount-USD")
        expect(error).to_contain_text("decimal number")
        expect(page.locator(".field:has(#f-amount-USD) [data-testid=error-amount-USD]")).to_have_count(1)
        expect(page.locator("#f-amount-USD")).to_have_value("abc")
        shots(page, "devportal buy credit refused")

        # Stripe's hosted page is out of reach here: stand in for it, as the buyer who pays.
        visited: list[str] = []

        def checkout(route: Route) -> None:
            visited.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body="<h1>Stripe Checkout (stand-in)</h1>")

        page.route(f"{CHECKOUT_PREFIX}**", checkout)
        page.locator("#f-amount-USD").fill("10.00")
        page.get_by_test_id("buy-USD").locator("button[type=submit]").click()
        expect(page.locator("h1")).to_have_text("Stripe Checkout (stand-in)")
        assert len(visited) == 1 and visited[0].startswith(CHECKOUT_PREFIX)
        session = self._only_session(stripe)
        assert session["amount_total"] == 1000
        paid = stripe.fake.complete_checkout_session(stripe.platform, session["id"])
        payload, signature = stripe.fake.signed_event("checkout.session.completed", paid, WEBHOOK_SECRET)
        delivered = httpx.post(
            f"{base}/api/am/stripe/webhook/{DEFAULT_TENANT}",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        assert delivered.status_code == 200, delivered.text
        page.goto(session["success_url"])  # where Stripe sends the buyer back
        expect(page.get_by_test_id("top-up-note")).to_contain_text("your payment was taken")
        expect(page.get_by_test_id("balance-USD")).to_have_text("12.00")
        shots(page, "devportal wallet after buying credit")
        page.click("text=All entries and balance chart")
        expect(page.get_by_test_id("balance-chart").locator("svg.chart-wide")).to_be_visible()
        expect(page.get_by_test_id("balance-chart").locator("svg.chart-wide circle")).to_have_count(2)
        shots(page, "devportal wallet balance chart")
        phone = new_context(width=375, height=740).new_page()
        sign_in(phone, base, "devportal", "sue", PASSWORDS["sue"])
        for path in ("/devportal/wallets", "/devportal/wallets/USD"):
            phone.goto(base + path)
            shots(phone, f"phone {path}")
            assert no_horizontal_scroll(phone), path
        expect(phone.get_by_test_id("balance-chart").locator("svg.chart-narrow")).to_be_visible()
