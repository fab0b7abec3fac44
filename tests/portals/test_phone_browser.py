"""The main pages at phone width (375 px): readable, with no sideways scrolling of the page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext

from tests.portals.conftest import Shots
from tests.portals.helpers import no_horizontal_scroll, sign_in
from tests.portals.world import PASSWORDS, seed
from tests.support.servers import ServerThread
from tollway.runtime import Runtime

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 740}


def test_main_pages_fit_a_phone_screen(
    live_server: ServerThread, runtime: Runtime, new_context: Callable[..., BrowserContext], shots: Shots
) -> None:
    world = seed(runtime)
    base = live_server.url
    sue, pat = world.subs["sue"], world.api_id
    visits = {
        ("devportal", "sue"): [
            "/devportal/apis",
            f"/devportal/apis/{pat}",
            "/devportal/applications",
            f"/devportal/applications/{world.apps['sue']}",
            "/devportal/subscriptions",
            f"/devportal/subscriptions/{sue}",
            f"/devportal/subscriptions/{sue}/invoice",
        ],
        ("publisher", "pat"): [
            "/publisher/apis",
            f"/publisher/apis/{pat}",
            f"/publisher/apis/{pat}/monetization",
            f"/publisher/apis/{pat}/subscriptions",
            f"/publisher/apis/{pat}/subscriptions/{sue}/invoice",
            f"/publisher/apis/{pat}/revenue",
        ],
        ("admin", "admin"): ["/admin/plans", "/admin/plans/new", "/admin/monetization"],
    }
    wide = []
    for (portal, user), paths in visits.items():
        page = new_context(**PHONE).new_page()
        page.goto(f"{base}/{portal}/login")
        shots(page, f"{portal} sign in")
        sign_in(page, base, portal, user, PASSWORDS.get(user, "admin"))
        for path in paths:
            answer = page.goto(base + path)
            assert answer is not None and answer.status == 200, path
            shots(page, path.replace(pat, "api").replace(sue, "sub").replace(world.apps["sue"], "app"))
            if not no_horizontal_scroll(page):
                wide.append(path)
    assert wide == []
