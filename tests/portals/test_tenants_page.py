"""The admin portal's Tenants page: the default tenant's admin lists, creates (with their admin)
and deactivates tenants; another tenant's admin has no such page. And the Monetization page's
history of usage-publishing jobs."""

from __future__ import annotations

import html
import re

import pytest

from tests.portals.test_pages_http import Browser, People, people
from tests.portals.test_users_page import can_sign_in
from tests.portals.world import PASSWORDS, World, seed
from tests.support.servers import ServerThread
from tollway.monetization.service import MonetizationService
from tollway.publishing import jobs
from tollway.runtime import Runtime

__all__ = ["people"]


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


def test_the_default_tenants_admin_creates_and_deactivates_a_tenant(
    people: People, live_server: ServerThread
) -> None:
    admin = people["admin"]
    page = admin.get("/admin/tenants")
    assert page.status_code == 200 and 'href="/admin/tenants"' in page.text
    assert "carbon.super" in page.text and "other.example" in page.text

    bad = admin.post(
        "/admin/tenants", domain="Not A Domain", adminUsername="boss", adminPassword="boss-password"
    )
    assert bad.status_code == 400 and "Domain" in html.unescape(bad.text)
    assert 'value="boss"' in bad.text
    short = admin.post("/admin/tenants", domain="acme.example", adminUsername="boss", adminPassword="short")
    assert short.status_code == 400 and "Admin password" in html.unescape(short.text)
    made = admin.post(
        "/admin/tenants", domain="acme.example", adminUsername="boss", adminPassword="boss-password"
    )
    assert made.status_code == 303
    assert "Tenant acme.example was created" in admin.get("/admin/tenants").text
    assert can_sign_in(live_server.url, "admin", "boss@acme.example", "boss-password")
    again = admin.post(
        "/admin/tenants", domain="acme.example", adminUsername="boss", adminPassword="boss-password"
    )
    assert again.status_code == 400 and "already exists" in html.unescape(again.text)

    admin.get("/admin/tenants")
    assert admin.post("/admin/tenants/acme.example/deactivate").status_code == 303
    assert "Tenant acme.example was deactivated" in admin.get("/admin/tenants").text
    assert not can_sign_in(live_server.url, "admin", "boss@acme.example", "boss-password")
    assert admin.post("/admin/tenants/nothing.example/deactivate").status_code == 404


def test_another_tenants_admin_has_no_tenants_page(world: World, live_server: ServerThread) -> None:
    olga = Browser(live_server.url)
    try:
        olga.sign_in("admin", "olga@other.example", PASSWORDS["olga"])
        assert 'href="/admin/tenants"' not in olga.get("/admin/plans").text
        assert olga.get("/admin/tenants").status_code == 403
        made = olga.post(
            "/admin/tenants", domain="evil.example", adminUsername="x", adminPassword="x-password"
        )
        assert made.status_code == 403
        assert olga.post("/admin/tenants/other.example/deactivate").status_code == 403
    finally:
        olga.close()
    assert can_sign_in(live_server.url, "admin", "olga@other.example", PASSWORDS["olga"])
    assert not can_sign_in(live_server.url, "admin", "x@evil.example", "x-password")


def test_the_monetization_page_lists_the_recent_publishing_jobs(people: People, runtime: Runtime) -> None:
    svc = MonetizationService(runtime)
    jobs.start(svc, runtime.session_factory, "api").run()
    jobs.start(svc, runtime.session_factory, "portal").run()
    page = people["admin"].get("/admin/monetization").text
    runs = re.findall(r'<tr data-testid="publish-run">(.*?)</tr>', page, re.S)
    assert len(runs) == 2
    assert ">portal<" in runs[0] and ">api<" in runs[1]  # newest first
    assert all("Successful" in run for run in runs)
