"""Finalized invoices in the portals: the admin's list with its status filter and the payment
form (refusals under the form, the block lifted), the subscriber's invoice history; each party sees
only its own, on every selected database, and once in Chromium at desktop and phone width."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect
from pypdf import PdfReader

from tests.monetization.world import backdate
from tests.portals.conftest import Shots
from tests.portals.helpers import no_horizontal_scroll, sign_in
from tests.portals.test_pages_http import LEAKS, Browser, People, main_of, people
from tests.portals.world import PASSWORDS, World, seed
from tests.support.servers import ServerThread
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.invoicing.maintenance import run_maintenance
from tollway.models import Invoice, Subscription
from tollway.monetization.service import MonetizationService
from tollway.runtime import Runtime

__all__ = ["people"]


@pytest.fixture
def world(runtime: Runtime) -> World:
    """Sue's Gold Paid subscription (10.00 USD a month) past its first month, its invoice stored."""
    seeded = seed(runtime)
    backdate(runtime, seeded.subs["sue"], timedelta(days=41))
    assert run_maintenance(MonetizationService(runtime), runtime.session_factory).invoices_finalized == 1
    return seeded


def pdf_text(content: bytes) -> str:
    """The PDF's text, one space between words (as a reader copying it would get)."""
    pages = PdfReader(io.BytesIO(content)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def invoice_of(runtime: Runtime, subscription_id: str) -> Invoice:
    """The subscription's first invoice."""
    with transaction(runtime.session_factory) as db:
        found = (
            db.query(Invoice)
            .filter_by(subscription_id=subscription_id)
            .order_by(Invoice.period_start)
            .first()
        )
        assert found is not None
        db.expunge(found)
        return found


def test_the_admin_lists_filters_and_records_a_payment(
    people: People, world: World, runtime: Runtime
) -> None:
    admin = people["admin"]
    invoice = invoice_of(runtime, world.subs["sue"])
    listing = admin.get("/admin/invoices")
    assert listing.status_code == 200
    rows = main_of(listing.text)
    assert invoice.number in rows and "Orders 2.0.0" in rows and "10.00 USD" in rows and "Open" in rows
    assert invoice.number not in admin.get("/admin/invoices?status=paid").text
    assert 'data-testid="no-invoices"' in admin.get("/admin/invoices?status=paid").text
    assert admin.get("/admin/invoices?status=refunded").status_code == 400

    page = admin.get(f"/admin/invoices/{invoice.id}")
    assert page.status_code == 200 and "Record the payment state" in page.text
    refused = admin.post(f"/admin/invoices/{invoice.id}/payment", status="refunded", note="")
    assert refused.status_code == 200 and "status" in html.unescape(refused.text).lower()
    assert not any(leak in refused.text for leak in LEAKS)
    assert invoice_of(runtime, world.subs["sue"]).status == "open"

    done = admin.post(f"/admin/invoices/{invoice.id}/payment", status="paid", note="transfer 4471")
    assert done.status_code == 303
    shown = admin.get(f"/admin/invoices/{invoice.id}")
    assert f"Invoice {invoice.number} is now paid." in html.unescape(shown.text)
    assert "transfer 4471" in shown.text and re.search(r'data-testid="invoice-status">Paid<', shown.text)
    stored = invoice_of(runtime, world.subs["sue"])
    assert (stored.status, stored.status_note, stored.status_set_by) == ("paid", "transfer 4471", "admin")


def test_a_subscriber_sees_only_their_own_invoices(
    people: People, world: World, runtime: Runtime, live_server: ServerThread
) -> None:
    invoice = invoice_of(runtime, world.subs["sue"])
    sue, tom = people["sue"], people["tom"]
    history = sue.get("/devportal/invoices")
    assert history.status_code == 200 and invoice.number in history.text
    detail = sue.get(f"/devportal/invoices/{invoice.id}")
    assert detail.status_code == 200
    text = html.unescape(main_of(detail.text))
    assert "Gold Paid" in text or "10.00 USD" in text
    assert "not paid yet" in text and "transfer" not in text
    assert re.search(r'data-testid="invoice-total">10\.00 USD<', detail.text)
    assert 'data-testid="no-invoices"' in tom.get("/devportal/invoices").text
    assert tom.get(f"/devportal/invoices/{invoice.id}").status_code == 404
    assert tom.get(f"/devportal/invoices/{invoice.id}/pdf").status_code == 404

    # The PDF holds what the page shows: number, every line with its amount, and the totals.
    download = sue.get(f"/devportal/invoices/{invoice.id}/pdf")
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in download.headers["content-disposition"]
    text = pdf_text(download.content)
    page_lines = re.findall(
        r'<td data-label="Description">([^<]*)</td>.*?<td data-label="Amount" class="num">([^<]*)</td>',
        detail.text,
        re.S,
    )
    assert page_lines == [("month subscription fee", "10.00 USD")]
    for description, amount in page_lines:
        assert description in text and amount in text
    assert invoice.number in text and "Total 10.00 USD" in text and "Amount paid 0.00 USD" in text
    assert "sue, application sue-app" in text and "Orders 2.0.0" in text
    olga = Browser(live_server.url)
    try:
        olga.sign_in("admin", "olga@other.example", PASSWORDS["olga"])
        assert olga.get(f"/admin/invoices/{invoice.id}").status_code == 404
        assert invoice.number not in olga.get("/admin/invoices").text
        assert olga.post(f"/admin/invoices/{invoice.id}/payment", status="paid").status_code == 404
    finally:
        olga.close()
    assert invoice_of(runtime, world.subs["sue"]).status == "open"


@pytest.mark.browser
def test_an_overdue_invoice_paid_in_the_admin_portal_in_chromium(
    world: World,
    runtime: Runtime,
    live_server: ServerThread,
    new_context: Callable[..., BrowserContext],
    shots: Shots,
) -> None:
    base = live_server.url
    svc = MonetizationService(runtime)
    assert (
        run_maintenance(svc, runtime.session_factory, utcnow() + timedelta(days=38)).blocked_for_payment == 1
    )
    invoice = invoice_of(runtime, world.subs["sue"])
    page = new_context().new_page()
    sign_in(page, base, "admin", "admin", "admin")
    page.click("nav >> text=Invoices")
    # Sue's first two months and Tom's first (38 days on) are stored.
    expect(page.get_by_test_id("invoice-row")).to_have_count(3)
    page.get_by_role("link", name="Void").click()
    expect(page.get_by_test_id("no-invoices")).to_be_visible()
    page.get_by_role("link", name="Open", exact=True).click()
    expect(page.get_by_test_id("invoice-row")).to_have_count(3)
    page.click(f"text={invoice.number}")
    expect(page.get_by_test_id("invoice-total")).to_have_text("10.00 USD")
    shots(page, "admin invoice open")
    form = page.get_by_test_id("payment-form")
    form.get_by_label("State").select_option("paid")
    form.get_by_label("Note (e.g. the transfer's reference)").fill("transfer 4471")
    form.get_by_role("button", name="Record").click()
    expect(page.get_by_test_id("invoice-status")).to_have_text("Paid")
    shots(page, "admin invoice paid")
    with transaction(runtime.session_factory) as db:
        assert db.get_one(Subscription, world.subs["sue"]).status == "UNBLOCKED"

    sue = new_context().new_page()
    sign_in(sue, base, "devportal", "sue", PASSWORDS["sue"])
    sue.click("nav >> text=Invoices")
    expect(sue.get_by_test_id("invoice-row")).to_have_count(2)  # hers only, not Tom's
    expect(sue.get_by_test_id("invoice-row").filter(has_text=invoice.number or "")).to_contain_text("Paid")
    sue.click(f"text={invoice.number}")
    with sue.expect_download() as downloading:
        sue.get_by_test_id("invoice-pdf").click()
    saved = downloading.value
    assert saved.suggested_filename == f"{invoice.number}.pdf"
    text = pdf_text(Path(saved.path()).read_bytes())
    assert "month subscription fee" in text and "Total 10.00 USD" in text and "Status: paid" in text
    shots(sue, "devportal invoices")
    admin_phone = new_context(width=375, height=740).new_page()
    sign_in(admin_phone, base, "admin", "admin", "admin")
    for path in ("/admin/invoices", f"/admin/invoices/{invoice.id}"):
        answer = admin_phone.goto(base + path)
        assert answer is not None and answer.status == 200
        assert no_horizontal_scroll(admin_phone), path
    shots(admin_phone, "admin invoice phone")
    phone = new_context(width=375, height=740).new_page()
    sign_in(phone, base, "devportal", "sue", PASSWORDS["sue"])
    for path in ("/devportal/invoices", f"/devportal/invoices/{invoice.id}"):
        answer = phone.goto(base + path)
        assert answer is not None and answer.status == 200
        assert no_horizontal_scroll(phone), path
    shots(phone, "devportal invoice phone")
