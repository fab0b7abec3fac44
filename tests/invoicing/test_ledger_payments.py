"""Ledger invoices' payment state and dunning: an invoice unpaid past its due date and grace
blocks its subscription at a running gateway within a second; recording the payment lets the
calls through again. Real control plane over HTTP, real gateway, real ledger on every database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.monetization.world import backdate
from tests.support.identity import OrmIdentity
from tests.support.monetized_gateway import LIMIT, Bed, takes_effect
from tests.support.rest import ADMIN, PUBLISHER, STORE, expect
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.identity.roles import ROLE_ADMIN
from tollway.invoicing.maintenance import MaintenanceResult, run_maintenance
from tollway.models import Invoice, WebhookEvent
from tollway.monetization.service import MonetizationService
from tollway.publishing.usage_publisher import SETTLE, publish_all

INVOICES = f"{ADMIN}/invoices"
BLOCKED = "The subscription is blocked"


def maintain(bed: Bed, days_from_now: float = 0) -> MaintenanceResult:
    svc = MonetizationService(bed.runtime)
    return run_maintenance(svc, bed.runtime.session_factory, utcnow() + timedelta(days=days_from_now))


def subscribed(bed: Bed) -> tuple[str, dict[str, str]]:
    """A Monthly (10.00 USD) subscription whose first month ended 10 days ago, its invoice stored."""
    app = bed.app()
    token = bed.token(app["applicationId"])
    sub_id = expect(bed.subscribe(app["applicationId"], "Monthly"), 201)["subscriptionId"]
    backdate(bed.runtime, sub_id, timedelta(days=41))
    assert maintain(bed).invoices_finalized >= 1
    assert takes_effect(lambda: bed.call(token).status_code, 200) < LIMIT
    return sub_id, token


def invoices(bed: Bed, **params: str) -> list[dict[str, Any]]:
    return list(expect(bed.http.get(INVOICES, headers=bed.admin.headers, params=params), 200)["list"])


def pay(bed: Bed, invoice_id: str, status: str = "paid", note: str | None = None) -> Any:
    body = {"status": status, "note": note}
    return bed.http.post(f"{INVOICES}/{invoice_id}/payment-status", headers=bed.admin.headers, json=body)


def test_an_invoice_unpaid_past_its_grace_blocks_the_gateway_until_it_is_paid(bed: Bed) -> None:
    sub_id, token = subscribed(bed)
    [invoice] = invoices(bed, subscriptionId=sub_id)
    assert (invoice["status"], invoice["total"], invoice["amountDue"], invoice["amountPaid"]) == (
        "open",
        "10.00",
        "10.00",
        "0.00",
    )
    assert invoice["engine"] == "ledger" and invoice["paidAt"] is None
    assert [line["amount"] for line in invoice["lines"]] == ["10.00"]
    # Due 30 days after it was finalized ([monetization] invoice_due_days).
    assert invoice["dueAt"][:10] == (utcnow() + timedelta(days=30)).date().isoformat()
    mine = expect(bed.http.get(f"{STORE}/invoices", headers=bed.subscriber.headers), 200)
    assert [i["invoiceId"] for i in mine["list"]] == [invoice["invoiceId"]]
    assert mine["list"][0]["statusNote"] is None

    # Due and within the grace days: nothing happens.
    assert maintain(bed, days_from_now=31).blocked_for_payment == 0
    assert bed.call(token).status_code == 200
    # Past due date + 7 grace days: blocked, and the gateway refuses within a second.
    assert maintain(bed, days_from_now=38).blocked_for_payment == 1
    assert takes_effect(lambda: bed.refusal(token), BLOCKED) < LIMIT
    shown = expect(bed.subscription(sub_id), 200)
    assert shown["status"] == "BLOCKED"
    assert maintain(bed, days_from_now=38).blocked_for_payment == 0  # once

    paid = expect(pay(bed, invoice["invoiceId"], note="bank transfer ref 4471"), 200)
    assert (paid["status"], paid["amountPaid"], paid["statusSetBy"]) == ("paid", "10.00", "admin")
    assert paid["statusNote"] == "bank transfer ref 4471" and paid["paidAt"] is not None
    assert takes_effect(lambda: bed.call(token).status_code, 200) < LIMIT
    assert expect(bed.subscription(sub_id), 200)["status"] == "UNBLOCKED"
    with transaction(bed.runtime.session_factory) as db:
        types = [e.type for e in db.query(WebhookEvent).order_by(WebhookEvent.created_at)]
    assert types[-2:] == ["invoice.paid", "subscription.unblocked"]
    # Paid stays paid: the next maintenance run blocks nothing.
    assert maintain(bed, days_from_now=38).blocked_for_payment == 0


def test_a_written_off_invoice_still_blocks_and_a_void_one_does_not(bed: Bed) -> None:
    sub_id, token = subscribed(bed)
    [invoice] = invoices(bed, subscriptionId=sub_id)
    expect(pay(bed, invoice["invoiceId"], "uncollectible", "customer unreachable"), 200)
    assert maintain(bed, days_from_now=38).blocked_for_payment == 1
    assert takes_effect(lambda: bed.refusal(token), BLOCKED) < LIMIT
    voided = expect(pay(bed, invoice["invoiceId"], "void", "billed in error"), 200)
    assert voided["status"] == "void" and voided["amountPaid"] == "0.00"
    assert takes_effect(lambda: bed.call(token).status_code, 200) < LIMIT
    refused = pay(bed, invoice["invoiceId"], "paid")
    assert refused.status_code == 409 and "void" in refused.json()["description"]
    assert [i["status"] for i in invoices(bed, status="void")] == ["void"]


def test_a_publishers_block_is_not_lifted_by_a_payment(bed: Bed, publisher: Any) -> None:
    sub_id, token = subscribed(bed)
    [invoice] = invoices(bed, subscriptionId=sub_id)
    params = {"subscriptionId": sub_id, "blockState": "BLOCKED"}
    url = f"{PUBLISHER}/subscriptions/block-subscription"
    expect(bed.http.post(url, headers=publisher.headers, params=params), 200)
    expect(pay(bed, invoice["invoiceId"]), 200)
    assert expect(bed.subscription(sub_id), 200)["status"] == "BLOCKED"
    assert takes_effect(lambda: bed.refusal(token), BLOCKED) < LIMIT


def test_without_blocking_an_overdue_invoice_only_stays_open(bed: Bed) -> None:
    monetization = bed.runtime.settings.monetization.model_copy(update={"block_unpaid_invoices": False})
    bed.runtime.settings = bed.runtime.settings.model_copy(update={"monetization": monetization})
    sub_id, token = subscribed(bed)
    assert maintain(bed, days_from_now=60).blocked_for_payment == 0
    assert bed.call(token).status_code == 200
    assert {i["status"] for i in invoices(bed, subscriptionId=sub_id)} == {"open"}


def test_payment_states_are_the_admins_and_kept_to_the_tenant(bed: Bed, identity: OrmIdentity) -> None:
    sub_id, _ = subscribed(bed)
    [invoice] = invoices(bed, subscriptionId=sub_id)
    url = f"{INVOICES}/{invoice['invoiceId']}/payment-status"
    assert bed.http.post(url, headers=bed.subscriber.headers, json={"status": "paid"}).status_code == 403
    identity.tenant("other.com")
    other = identity.user("boss", [ROLE_ADMIN], tenant="other.com")
    assert bed.http.post(url, headers=other.headers, json={"status": "paid"}).status_code == 404
    assert bed.http.get(f"{INVOICES}/{invoice['invoiceId']}", headers=other.headers).status_code == 404
    assert expect(bed.http.get(INVOICES, headers=other.headers), 200)["count"] == 0
    stranger = identity.user("eve", ["Internal/subscriber"])
    assert expect(bed.http.get(f"{STORE}/invoices", headers=stranger.headers), 200)["count"] == 0
    assert (
        bed.http.get(f"{STORE}/invoices/{invoice['invoiceId']}", headers=stranger.headers).status_code == 404
    )
    assert (
        expect(bed.http.get(INVOICES, headers=bed.admin.headers, params={"status": "paid"}), 200)["count"]
        == 0
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "refunded"}, "status"),
        ({}, "status"),
        ({"status": "paid", "note": "x" * 501}, "note"),
        ({"status": "paid", "note": "two\nlines"}, "note"),
    ],
)
def test_bad_payment_states_are_refused_naming_the_field(bed: Bed, body: dict[str, Any], field: str) -> None:
    sub_id, _ = subscribed(bed)
    [invoice] = invoices(bed, subscriptionId=sub_id)
    response = bed.http.post(
        f"{INVOICES}/{invoice['invoiceId']}/payment-status", headers=bed.admin.headers, json=body
    )
    assert response.status_code == 400 and field in response.json()["description"], response.text
    assert invoices(bed, subscriptionId=sub_id)[0]["status"] == "open"


def test_an_invoice_the_engine_collects_is_not_marked_by_hand(bed: Bed) -> None:
    """Stripe's invoices carry no Tollway due date: their state is Stripe's."""
    sub_id, _ = subscribed(bed)
    with transaction(bed.runtime.session_factory) as db:
        stored = db.query(Invoice).filter_by(subscription_id=sub_id).one()
        stored.engine, stored.due_at = "stripe", None
    refused = pay(bed, stored.id)
    assert refused.status_code == 409 and "stripe" in refused.json()["description"]


def test_a_zero_invoice_is_paid_when_it_is_stored(bed: Bed) -> None:
    app = bed.app()
    sub_id = expect(bed.subscribe(app["applicationId"], "Pro"), 201)["subscriptionId"]  # no calls
    backdate(bed.runtime, sub_id, timedelta(days=41))
    svc = MonetizationService(bed.runtime)
    publish_all(svc, bed.runtime.session_factory, now=utcnow() + SETTLE)  # the month had no calls
    assert maintain(bed).invoices_finalized == 1
    stored = invoices(bed, subscriptionId=sub_id)
    assert stored and {(i["status"], i["total"]) for i in stored} == {("paid", "0.00")}
    assert maintain(bed, days_from_now=60).blocked_for_payment == 0
    assert Decimal(stored[0]["amountDue"]) == 0
