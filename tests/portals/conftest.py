"""Portal test fixtures: Debian's Chromium driven by Playwright, screenshots kept as artifacts.

The browser tests run on SQLite only unless TOLLWAY_BROWSER_DATABASES=all: they exercise pages
and the services behind them, whose storage code is already tested on every backend by their own
tests (and the portal's HTTP-level tests here run on every selected backend); three browser runs
would triple the slowest part of the suite for no extra coverage of the pages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tollway.config import Settings, load_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portals"
# Generous waits: the machine's two cores are shared by the server, the gateway and Chromium.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TOLLWAY_BROWSER_DATABASES", "").lower() == "all":
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        if item.get_closest_marker("browser") and backend not in (None, "sqlite"):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The manual's set-up: the publisher enters a connected account key on the Monetization tab."""
    attribute = {
        "name": "ConnectedAccountKey",
        "display_name": "Connected account key",
        "required": "true",
        "description": "connected account of the publisher",
    }
    return load_settings(
        None,
        environ={},
        overrides={
            "server": {"data_dir": str(tmp_path / "data")},
            "database": {"url": database_url},
            "monetization": {"additional_attributes": [attribute]},
        },
    )


# Module scope, not session: the sync API keeps an asyncio loop marked as running in the main
# thread while Playwright is started, which would break asyncio.run() in every later test.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class Shots:
    """Saves a full-page screenshot of each step to test-artifacts/portals/<test>/<nn-step>.png."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, page: Page, step: str) -> Path:
        self.count += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower()).strip('-')}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return Shots(ARTIFACTS / name)


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """A factory of fresh browser contexts (one per person: separate cookies)."""
    contexts: list[BrowserContext] = []

    def make(width: int = 1280, height: int = 860) -> BrowserContext:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()
