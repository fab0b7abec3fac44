"""The admin portal's Tasks page: pending approval workflows decided in Chromium, what the
subscriber then sees in the developer portal, and another tenant's admin kept out."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select

from tests.portals.conftest import Shots
from tests.portals.helpers import no_horizontal_scroll, sign_in
from tests.portals.test_pages_http import Browser
from tests.portals.world import PASSWORDS, World, principal, seed
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.models import Application, Subscription, Tenant
from tollway.models.workflow import TENANT_CONFIG_KEY
from tollway.portals import services
from tollway.runtime import Runtime


@pytest.fixture
def world(runtime: Runtime) -> World:
    """The seeded tenant with approval for new subscriptions and applications; sue asks for a
    second subscription (Bronze, through a new application) and tom for an application."""
    seeded = seed(runtime)
    with transaction(runtime.session_factory) as db:  # sue's new application, before approval applies
        app = services.create_application(db, runtime, principal(runtime, "sue"), "sue-second", None)
        seeded.apps["sue-second"] = app["applicationId"]
    with transaction(runtime.session_factory) as db:
        tenant = db.scalars(select(Tenant).where(Tenant.domain == "carbon.super")).one()
        modes = {"subscription_creation": "approval", "application_creation": "approval"}
        tenant.config = {**tenant.config, TENANT_CONFIG_KEY: modes}
    with transaction(runtime.session_factory) as db:
        services.create_application(db, runtime, principal(runtime, "tom"), "tom-held", "for the reports")
    with transaction(runtime.session_factory) as db:
        sub = services.subscribe(
            db, runtime, principal(runtime, "sue"), seeded.api_id, seeded.apps["sue-second"], "Bronze"
        )
        seeded.subs["sue-second"] = sub["subscriptionId"]
    return seeded


@pytest.mark.browser
def test_an_admin_approves_and_rejects_requests_on_the_tasks_page(
    world: World,
    runtime: Runtime,
    live_server: ServerThread,
    new_context: Callable[..., BrowserContext],
    shots: Shots,
) -> None:
    base = live_server.url
    page = new_context().new_page()
    sign_in(page, base, "admin", "admin", "admin")
    page.click("nav >> text=Tasks")
    rows = page.get_by_test_id("task-row")
    expect(rows).to_have_count(2)
    subscription_row = rows.filter(has_text="sue-second")
    expect(subscription_row).to_contain_text("New subscription")
    expect(subscription_row).to_contain_text("Orders 2.0.0 on plan Bronze")
    expect(rows.filter(has_text="tom-held")).to_contain_text("New application")
    shots(page, "admin tasks pending")

    subscription_row.get_by_label("Note (optional)").fill("known customer")
    subscription_row.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash, [role=status]").first).to_contain_text(
        "The new subscription request of sue was approved."
    )
    expect(rows).to_have_count(1)
    page.get_by_test_id("task-row").get_by_role("button", name="Reject").click()
    expect(page.get_by_test_id("no-tasks")).to_be_visible()
    decided = page.get_by_test_id("decided")
    expect(decided.locator("tbody tr")).to_have_count(2)
    expect(decided).to_contain_text("known customer")
    shots(page, "admin tasks decided")
    with transaction(runtime.session_factory) as db:
        assert db.get_one(Subscription, world.subs["sue-second"]).status == "UNBLOCKED"
        held = db.scalars(select(Application).where(Application.name == "tom-held")).one()
        assert held.status == "REJECTED"

    # The subscribers see the outcome in their portal.
    sue = new_context().new_page()
    sign_in(sue, base, "devportal", "sue", PASSWORDS["sue"])
    sue.goto(f"{base}/devportal/subscriptions/{world.subs['sue-second']}")
    expect(sue.locator("main")).to_contain_text("Active")
    tom = new_context().new_page()
    sign_in(tom, base, "devportal", "tom", PASSWORDS["tom"])
    tom.click("nav >> text=Applications")
    expect(tom.get_by_test_id("applications")).to_contain_text("Rejected")
    tom.click("text=tom-held")
    expect(tom.get_by_test_id("app-status")).to_contain_text("An admin rejected this application")
    shots(tom, "devportal rejected application")

    phone = new_context(width=375, height=740).new_page()
    sign_in(phone, base, "admin", "admin", "admin")
    answer = phone.goto(f"{base}/admin/tasks")
    assert answer is not None and answer.status == 200
    assert no_horizontal_scroll(phone)
    shots(phone, "admin tasks phone")


def test_another_tenants_admin_neither_sees_nor_decides_the_tasks(
    world: World, runtime: Runtime, live_server: ServerThread
) -> None:
    olga = Browser(live_server.url)
    admin = Browser(live_server.url)
    try:
        olga.sign_in("admin", "olga@other.example", PASSWORDS["olga"])
        admin.sign_in("admin", "admin", "admin")
        with transaction(runtime.session_factory) as db:
            pending = services.tasks(db, principal(runtime, "admin"))
        assert len(pending) == 2
        page = olga.get("/admin/tasks")
        assert page.status_code == 200 and "tom-held" not in page.text and "no-tasks" in page.text
        for task in pending:
            refused = olga.post(f"/admin/tasks/{task['referenceId']}", decision="APPROVED")
            assert refused.status_code == 404
        # A decision the tenant's own admin sends twice is told, not applied twice.
        admin.get("/admin/tasks")
        reference = pending[0]["referenceId"]
        assert admin.post(f"/admin/tasks/{reference}", decision="APPROVED").status_code == 303
        again = admin.post(f"/admin/tasks/{reference}", decision="REJECTED")
        assert again.status_code == 303
        assert "Nothing was decided" in admin.get("/admin/tasks").text
        assert admin.post(f"/admin/tasks/{reference}", decision="MAYBE").status_code == 400
    finally:
        olga.close()
        admin.close()
    with transaction(runtime.session_factory) as db:
        assert [t["workflowStatus"] for t in services.tasks(db, principal(runtime, "admin"), "ALL")].count(
            "APPROVED"
        ) == 1
