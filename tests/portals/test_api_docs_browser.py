"""The REST APIs' reference pages render their operations in a real browser, offline."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Request, expect

from tests.portals.conftest import Shots
from tests.support.servers import ServerThread

pytestmark = pytest.mark.browser


def test_the_store_reference_shows_its_operations(
    live_server: ServerThread, new_context: Callable[..., BrowserContext], shots: Shots
) -> None:
    page = new_context().new_page()
    elsewhere: list[str] = []
    errors: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith((live_server.url, "blob:", "data:")):
            elsewhere.append(request.url)

    page.on("request", note)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/api/am/store/v1/docs")
    expect(page.get_by_role("heading", name="Tollway Developer Portal API")).to_be_visible()
    operation = page.get_by_role("heading", name="Generate the consumer key and secret")
    operation.scroll_into_view_if_needed()
    expect(operation).to_be_visible()
    expect(page.get_by_text('"SANDBOX"').first).to_be_attached()  # keyType's enum, from the document
    shots(page, "store reference")
    assert not elsewhere, elsewhere
    assert not errors, errors
