"""Sign-in, sign-out and role checks in a real browser."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.portals.conftest import Shots
from tests.support.servers import ServerThread

pytestmark = pytest.mark.browser


def test_admin_signs_in_and_out(
    live_server: ServerThread, new_context: Callable[..., BrowserContext], shots: Shots
) -> None:
    page = new_context().new_page()
    page.goto(f"{live_server.url}/admin")
    expect(page).to_have_url(f"{live_server.url}/admin/login?next=/admin")
    shots(page, "sign-in page")
    page.fill("#f-username", "admin")
    page.fill("#f-password", "wrong")
    page.click("button[type=submit]")
    expect(page.get_by_test_id("form-error")).to_have_text("The username or password is not correct.")
    shots(page, "wrong password")
    page.fill("#f-password", "admin")
    page.click("button[type=submit]")
    expect(page.get_by_test_id("signed-in-as")).to_have_text("admin")
    shots(page, "signed in")
    page.click("text=Sign out")
    expect(page).to_have_url(f"{live_server.url}/admin/login")
    page.goto(f"{live_server.url}/admin")
    expect(page).to_have_url(f"{live_server.url}/admin/login?next=/admin")
