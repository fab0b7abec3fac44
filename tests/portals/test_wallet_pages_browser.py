"""The wallet pages in Chromium: an admin credits a subscriber through the form, the subscriber
sees it on their Wallet page, another subscriber never does; each page at desktop and phone width."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import func, select

from tests.portals.conftest import Shots
from tests.portals.helpers import no_horizontal_scroll, sign_in
from tests.portals.world import PASSWORDS, principal, seed
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.models import Wallet, WalletEntry
from tollway.portals import services
from tollway.runtime import Runtime

pytestmark = pytest.mark.browser
NOT_YOURS = "There is nothing here, or it is not yours."
PHONE = {"width": 375, "height": 740}


def wallet_rows(runtime: Runtime) -> tuple[int, int]:
    with transaction(runtime.session_factory) as db:
        wallets = db.scalar(select(func.count()).select_from(Wallet)) or 0
        entries = db.scalar(select(func.count()).select_from(WalletEntry)) or 0
    return wallets, entries


def scrolling_tables(page: Page) -> int:
    """How many tables are wider than their box (cut off, to be scrolled sideways)."""
    found: int = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth).length"
    )
    return found


def submit_credit(page: Page, amount: str) -> None:
    page.fill("#f-owner", "sue")
    page.fill("#f-currency", "USD")
    page.fill("#f-amount", amount)
    page.select_option("#f-kind", "GRANT")
    page.fill("#f-reason", "Welcome credit for the launch")
    page.click("[data-testid=credit-form] button[type=submit]")


def test_an_admin_grant_reaches_the_subscribers_wallet_page(
    live_server: ServerThread, runtime: Runtime, new_context: Callable[..., BrowserContext], shots: Shots
) -> None:
    seed(runtime)
    base = live_server.url
    admin = new_context().new_page()
    sign_in(admin, base, "admin", "admin", "admin")
    admin.click("nav >> text=Wallets")
    expect(admin.get_by_test_id("no-wallets")).to_be_visible()
    shots(admin, "admin wallets empty")

    admin.click("text=Credit a wallet")
    expect(admin.get_by_test_id("credit-form")).to_be_visible()
    shots(admin, "admin credit form")
    for bad, words in (("abc", "Must be a decimal number"), ("-1", "Must be more than 0")):
        submit_credit(admin, bad)
        error = admin.get_by_test_id("error-amount")
        expect(error).to_contain_text(words)
        # Next to the amount field: inside its field box, right under the input, which names it.
        expect(admin.locator(".field:has(#f-amount) [data-testid=error-amount]")).to_have_count(1)
        expect(admin.locator("#f-amount")).to_have_attribute("aria-invalid", "true")
        expect(admin.locator("#f-amount")).to_have_value(bad)
        expect(admin.locator("#f-reason")).to_have_value("Welcome credit for the launch")
        expect(admin.get_by_test_id("form-error")).to_be_visible()
        shots(admin, f"admin credit refused {bad}")
        assert wallet_rows(runtime) == (0, 0)

    submit_credit(admin, "5.00")
    expect(admin.get_by_test_id("wallet-balance")).to_have_text("5.00")
    expect(admin.locator(".notice")).to_contain_text("The new balance is 5.00 USD.")
    expect(admin.get_by_test_id("entries-USD")).to_contain_text("Welcome credit for the launch")
    shots(admin, "admin wallet after grant")
    admin.click("text=All wallets")
    expect(admin.get_by_test_id("wallets")).to_contain_text("sue")
    shots(admin, "admin wallets")
    assert wallet_rows(runtime) == (1, 1)

    sue = new_context().new_page()
    sign_in(sue, base, "devportal", "sue", PASSWORDS["sue"])
    sue.click("nav >> text=Wallet")
    expect(sue.get_by_test_id("balance-USD")).to_have_text("5.00")
    entry = sue.get_by_test_id("entries-USD").get_by_test_id("entry")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Welcome credit for the launch")
    expect(entry).to_contain_text("Grant")
    expect(entry).to_contain_text("+5.00 USD")
    shots(sue, "devportal wallet")
    sue.click("text=All entries")
    expect(sue.get_by_test_id("balance-USD")).to_have_text("5.00")
    shots(sue, "devportal wallet usd")

    tom = new_context().new_page()
    sign_in(tom, base, "devportal", "tom", PASSWORDS["tom"])
    tom.goto(f"{base}/devportal/wallets")
    expect(tom.get_by_test_id("no-wallets")).to_contain_text("ask them for credit")
    assert "Welcome credit" not in tom.content()
    shots(tom, "devportal wallet empty")
    answer = tom.goto(f"{base}/devportal/wallets/USD")
    assert answer is not None and answer.status == 404
    expect(tom.get_by_test_id("page-error")).to_have_text(NOT_YOURS)
    assert "Welcome credit" not in tom.content() and "5.00" not in tom.content()
    shots(tom, "devportal another subscribers wallet")


def test_the_wallet_pages_fit_a_phone_screen(
    live_server: ServerThread, runtime: Runtime, new_context: Callable[..., BrowserContext], shots: Shots
) -> None:
    seed(runtime)
    base = live_server.url
    with transaction(runtime.session_factory) as db:
        made = services.credit(
            db,
            principal(runtime, "admin"),
            {
                "owner": "sue",
                "currency": "USD",
                "amount": "5.00",
                "kind": "GRANT",
                "reason": "Welcome credit for the launch, with a long reason that has to wrap on a phone",
                "expiresAt": "2999-01-01T00:00:00+00:00",
            },
        )
    wallet_id = made["wallet"]["walletId"]
    visits = {
        ("devportal", "sue"): ["/devportal/wallets", "/devportal/wallets/USD"],
        ("devportal", "tom"): ["/devportal/wallets"],
        ("admin", "admin"): ["/admin/wallets", f"/admin/wallets/{wallet_id}", "/admin/wallets/credit"],
    }
    wide = []
    for (portal, user), paths in visits.items():
        page = new_context(**PHONE).new_page()
        sign_in(page, base, portal, user, PASSWORDS.get(user, "admin"))
        for path in paths:
            answer = page.goto(base + path)
            assert answer is not None and answer.status == 200, path
            shots(page, f"phone {user} {path.replace(wallet_id, 'wallet')}")
            if not no_horizontal_scroll(page) or scrolling_tables(page):
                wide.append(path)
    page.fill("#f-owner", "sue")
    page.fill("#f-amount", "abc")
    page.fill("#f-reason", "Bad amount")
    page.click("[data-testid=credit-form] button[type=submit]")
    expect(page.get_by_test_id("error-amount")).to_be_visible()
    shots(page, "phone admin credit refused")
    if not no_horizontal_scroll(page):
        wide.append("/admin/wallets/credit (refused)")
    assert wide == []
