"""Nobody opens another party's pages: the answer is a plain 404 page that reveals nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.portals.conftest import Shots
from tests.portals.helpers import sign_in
from tests.portals.world import PASSWORDS, seed
from tests.support.servers import ServerThread
from tollway.runtime import Runtime

pytestmark = pytest.mark.browser
NOT_YOURS = "There is nothing here, or it is not yours."


def test_a_subscriber_cannot_open_another_subscribers_invoice(
    live_server: ServerThread, runtime: Runtime, new_context: Callable[..., BrowserContext], shots: Shots
) -> None:
    world = seed(runtime)
    base = live_server.url
    page = new_context().new_page()
    sign_in(page, base, "devportal", "tom", PASSWORDS["tom"])

    page.goto(f"{base}/devportal/subscriptions/{world.subs['tom']}/invoice")
    expect(page.get_by_test_id("invoice-total")).to_have_text("10.00")
    shots(page, "own invoice")

    for path in (
        f"/devportal/subscriptions/{world.subs['sue']}/invoice",
        f"/devportal/subscriptions/{world.subs['sue']}",
        f"/devportal/applications/{world.apps['sue']}",
    ):
        answer = page.goto(base + path)
        assert answer is not None and answer.status == 404
        expect(page.get_by_test_id("page-error")).to_have_text(NOT_YOURS)
        content = page.content()
        assert "sue" not in content and world.subs["sue"] not in content
    shots(page, "another subscribers invoice")


def test_a_publisher_cannot_open_another_tenants_api(
    live_server: ServerThread, runtime: Runtime, new_context: Callable[..., BrowserContext], shots: Shots
) -> None:
    world = seed(runtime)
    base = live_server.url
    page = new_context().new_page()
    sign_in(page, base, "publisher", "olga@other.example", PASSWORDS["olga"])
    expect(page.get_by_test_id("signed-in-as")).to_have_text("olga@other.example")
    page.goto(f"{base}/publisher/apis")
    expect(page.locator("main")).not_to_contain_text("Orders")
    shots(page, "own tenant apis")

    for path in (
        f"/publisher/apis/{world.api_id}",
        f"/publisher/apis/{world.api_id}/monetization",
        f"/publisher/apis/{world.api_id}/subscriptions",
        f"/publisher/apis/{world.api_id}/subscriptions/{world.subs['sue']}/invoice",
        f"/publisher/apis/{world.api_id}/revenue",
    ):
        answer = page.goto(base + path)
        assert answer is not None and answer.status == 404
        expect(page.get_by_test_id("page-error")).to_have_text(NOT_YOURS)
        assert "Orders" not in page.content()
    shots(page, "another tenants api")
