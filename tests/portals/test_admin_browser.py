"""Admin portal in a real browser: business plans with their monetization fields."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.portals.conftest import Shots
from tests.portals.helpers import sign_in
from tests.support.servers import ServerThread

pytestmark = pytest.mark.browser


def test_admin_creates_edits_and_deletes_a_business_plan(
    live_server: ServerThread, new_context: Callable[..., BrowserContext], shots: Shots
) -> None:
    base = live_server.url
    page = new_context().new_page()
    sign_in(page, base, "admin", "admin", "admin")
    expect(page).to_have_url(f"{base}/admin/plans")
    shots(page, "plans")

    page.click("text=Add business plan")
    page.fill("#f-policyName", "Metered")
    page.fill("#f-displayName", "Metered plan")
    page.fill("#f-requestCount", "1000")
    page.select_option("#f-billingPlan", "COMMERCIAL")
    page.select_option("#f-monetizationPlan", "DynamicRate")
    page.fill("#f-pricePerRequest", "abc")
    shots(page, "plan form")
    page.click("text=Save")
    expect(page.get_by_test_id("form-error")).to_have_text("Price per request: not a decimal number: 'abc'.")
    shots(page, "plan form error")
    page.fill("#f-pricePerRequest", "0.0004")
    page.fill("#f-includedRequests", "100")
    page.click("text=Save")
    expect(page.locator(".notice")).to_have_text("Business plan Metered was created.")
    row = page.locator("[data-testid=plans] tr", has_text="Metered plan")
    expect(row).to_contain_text("0.0004 USD per request")
    expect(row).to_contain_text("first 100 requests included")
    shots(page, "plan created")

    row.locator("text=Edit").click()
    expect(page.locator("#f-pricePerRequest")).to_have_value("0.0004")
    page.fill("#f-pricePerRequest", "0.001")
    page.click("text=Update")
    expect(page.locator("[data-testid=plans] tr", has_text="Metered plan")).to_contain_text("0.001 USD")
    shots(page, "plan updated")

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("[data-testid=plans] tr", has_text="Metered plan").locator("text=Delete").click()
    expect(page.locator(".notice")).to_have_text("Business plan Metered was deleted.")
    expect(page.locator("[data-testid=plans]")).not_to_contain_text("Metered plan")
