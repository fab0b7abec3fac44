"""Stripe webhooks over real HTTP: signed events block and unblock subscriptions, and nothing else does."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.billing.stripe.conftest import PLATFORM_KEY, WEBHOOK_SECRET, StripeSetup, set_monetization_info
from tests.monetization.world import World
from tests.support.rest import config_version
from tollway.models import MonSubscription, Subscription
from tollway.subscriptions.service import block

URL = "/api/am/stripe/webhook/carbon.super"


class Billed:
    """A FixedRate subscription (its first invoice open, awaiting payment) and helpers around it."""

    def __init__(self, world: World, stripe: StripeSetup) -> None:
        self.world, self.stripe = world, stripe
        world.policy("Flat", plan="FixedRate", price=None, fixed="25")
        api = world.api(policies=["Flat"])
        world.monetize(api, {"ConnectedAccountKey": stripe.seller})
        self.subscription_id = world.subscribe(world.app(), api, tier="Flat")
        (row,) = world.mon_rows(self.subscription_id)
        self.stripe_subscription = row.engine_subscription_id
        self.seller: Any = stripe.client(stripe.seller)

    def invoice(self) -> Any:
        (invoice,) = self.seller.v1.invoices.list({"subscription": self.stripe_subscription})["data"]
        return invoice

    def event(self, event_type: str, obj: Any, **options: Any) -> tuple[bytes, dict[str, str]]:
        options.setdefault("account", self.stripe.seller)
        payload, signature = self.stripe.fake.signed_event(
            event_type, obj, options.pop("secret", WEBHOOK_SECRET), **options
        )
        return payload, {"Stripe-Signature": signature, "Content-Type": "application/json"}

    def deliver(self, http: httpx.Client, event_type: str, obj: Any, **options: Any) -> httpx.Response:
        payload, headers = self.event(event_type, obj, **options)
        return http.post(URL, content=payload, headers=headers)

    def state(self) -> tuple[str, str | None]:
        with self.world.tx() as session:
            row = session.get(Subscription, self.subscription_id)
            assert row is not None
            return row.status, row.status_reason


@pytest.fixture
def billed(world: World, stripe: StripeSetup) -> Billed:
    return Billed(world, stripe)


def test_a_failed_payment_blocks_and_the_payment_unblocks(http: httpx.Client, billed: Billed) -> None:
    invoice = billed.invoice()
    assert invoice["status"] == "open"
    before = config_version(billed.world.runtime)
    answer = billed.deliver(http, "invoice.payment_failed", invoice)
    assert answer.status_code == 200 and answer.json() == {"received": True, "outcome": "blocked"}
    assert billed.state() == ("BLOCKED", "payment_failed")
    assert config_version(billed.world.runtime) > before  # the gateway reloads and answers 403

    # The same event delivered again: nothing changes.
    blocked_at = config_version(billed.world.runtime)
    again = billed.deliver(http, "invoice.payment_failed", invoice)
    assert again.status_code == 200 and again.json()["outcome"].startswith("unchanged")
    assert billed.state() == ("BLOCKED", "payment_failed")
    assert config_version(billed.world.runtime) == blocked_at

    paid = billed.seller.v1.invoices.pay(invoice["id"])
    answer = billed.deliver(http, "invoice.paid", paid)
    assert answer.json()["outcome"] == "unblocked" and billed.state() == ("UNBLOCKED", None)
    assert billed.deliver(http, "invoice.payment_succeeded", paid).json()["outcome"].startswith("unchanged")

    # A failure event arriving late, after the payment: Stripe says the invoice is paid, so no block.
    late = billed.deliver(http, "invoice.payment_action_required", invoice)
    assert late.status_code == 200 and billed.state() == ("UNBLOCKED", None)


def test_events_in_the_older_invoice_shape_are_understood(http: httpx.Client, billed: Billed) -> None:
    invoice = billed.invoice()
    legacy = {"id": invoice["id"], "object": "invoice", "subscription": billed.stripe_subscription}
    assert billed.deliver(http, "invoice.payment_failed", legacy).json()["outcome"] == "blocked"


def test_a_bad_or_stale_signature_is_a_400_and_changes_nothing(http: httpx.Client, billed: Billed) -> None:
    invoice = billed.invoice()
    before = config_version(billed.world.runtime)
    wrong = billed.deliver(http, "invoice.payment_failed", invoice, secret="whsec_someone_else")
    assert wrong.status_code == 400 and "Stripe-Signature" in wrong.json()["description"]
    stale = billed.deliver(http, "invoice.payment_failed", invoice, timestamp=int(time.time()) - 301)
    assert stale.status_code == 400
    payload, headers = billed.event("invoice.payment_failed", invoice)
    tampered = payload.replace(b'"open"', b'"OPEN"', 1)
    assert http.post(URL, content=tampered, headers=headers).status_code == 400
    assert http.post(URL, content=payload, headers={"Content-Type": "application/json"}).status_code == 400
    assert billed.state() == ("UNBLOCKED", None) and config_version(billed.world.runtime) == before


def test_a_subscription_blocked_by_the_publisher_stays_blocked(http: httpx.Client, billed: Billed) -> None:
    with billed.world.tx() as session:
        row = session.get(Subscription, billed.subscription_id)
        assert row is not None
        block(session, row, "BLOCKED")
    paid = billed.seller.v1.invoices.pay(billed.invoice()["id"])
    assert billed.deliver(http, "invoice.paid", paid).json()["outcome"].startswith("unchanged")
    assert billed.state() == ("BLOCKED", None)


def test_a_past_due_update_blocks_only_if_stripe_still_says_so(http: httpx.Client, billed: Billed) -> None:
    current = billed.seller.v1.subscriptions.retrieve(billed.stripe_subscription)
    stale = {**current, "status": "past_due"}  # an old update; the subscription is active by now
    answer = billed.deliver(
        http, "customer.subscription.updated", stale, previous_attributes={"status": "active"}
    )
    assert answer.status_code == 200 and answer.json()["outcome"] == "unchanged: the subscription is active"
    assert billed.state() == ("UNBLOCKED", None)


def test_a_subscription_stripe_ends_is_marked_and_blocked(http: httpx.Client, billed: Billed) -> None:
    ended = billed.seller.v1.subscriptions.cancel(billed.stripe_subscription)  # e.g. from the dashboard
    assert billed.deliver(http, "customer.subscription.deleted", ended).json()["outcome"] == "blocked"
    assert billed.state() == ("BLOCKED", "billing_canceled")
    (row,) = billed.world.mon_rows(billed.subscription_id)
    assert row.status == "canceled" and row.canceled_at is not None
    assert int(row.canceled_at.timestamp()) == ended["ended_at"]
    # Delivered twice: nothing more happens; payments do not lift this block.
    assert (
        billed.deliver(http, "customer.subscription.deleted", ended).json()["outcome"].startswith("unchanged")
    )
    paid = billed.seller.v1.invoices.pay(billed.invoice()["id"])
    billed.deliver(http, "invoice.paid", paid)
    assert billed.state() == ("BLOCKED", "billing_canceled")


def test_tollways_own_cancellation_coming_back_changes_nothing(http: httpx.Client, billed: Billed) -> None:
    billed.world.unsubscribe(billed.subscription_id)  # a fixed fee: Stripe is told at once
    ended = billed.seller.v1.subscriptions.retrieve(billed.stripe_subscription)
    assert ended["status"] == "canceled"
    answer = billed.deliver(http, "customer.subscription.deleted", ended)
    assert answer.json()["outcome"] == "unchanged: Tollway ended it"
    with billed.world.tx() as session:
        assert session.scalars(select(MonSubscription)).one().status == "canceled"


def test_events_tollway_does_not_know_are_acknowledged(http: httpx.Client, billed: Billed) -> None:
    other = {"id": "in_unknown", "object": "invoice", "subscription": "sub_not_ours"}
    assert billed.deliver(http, "invoice.payment_failed", other).json()["outcome"].startswith("ignored")
    assert billed.deliver(http, "customer.created", {"id": "cus_x", "object": "customer"}).status_code == 200
    assert billed.state() == ("UNBLOCKED", None)


def test_unknown_tenants_and_missing_secrets(http: httpx.Client, billed: Billed) -> None:
    payload, headers = billed.event("invoice.payment_failed", billed.invoice())
    assert (
        http.post("/api/am/stripe/webhook/nobody.example", content=payload, headers=headers).status_code
        == 404
    )
    set_monetization_info(billed.world.runtime, {"BillingEnginePlatformAccountKey": "sk_test_x"})
    refused = http.post(URL, content=payload, headers=headers)
    assert refused.status_code == 400 and "StripeWebhookSecret" in refused.json()["description"]
    assert billed.state() == ("UNBLOCKED", None)


def test_a_payment_needing_the_customers_action_blocks_too(http: httpx.Client, billed: Billed) -> None:
    answer = billed.deliver(http, "invoice.payment_action_required", billed.invoice())
    assert answer.json()["outcome"] == "blocked" and billed.state() == ("BLOCKED", "payment_failed")


@pytest.mark.parametrize("delinquent", ["past_due", "unpaid"])
def test_a_delinquent_subscription_is_blocked_until_a_payment_brings_it_back(
    http: httpx.Client, billed: Billed, delinquent: str
) -> None:
    billed.stripe.fake.set_subscription_status(billed.stripe.seller, billed.stripe_subscription, delinquent)
    current = billed.seller.v1.subscriptions.retrieve(billed.stripe_subscription)
    before = config_version(billed.world.runtime)
    updated = billed.deliver(
        http, "customer.subscription.updated", current, previous_attributes={"status": "active"}
    )
    assert updated.json()["outcome"] == "blocked" and billed.state() == ("BLOCKED", "payment_failed")
    assert config_version(billed.world.runtime) > before  # the gateway answers 403 from now on

    # A payment while Stripe still counts the subscription delinquent lifts nothing.
    paid = billed.seller.v1.invoices.pay(billed.invoice()["id"])
    assert (
        billed.deliver(http, "invoice.paid", paid)
        .json()["outcome"]
        .startswith("unchanged: the subscription is still")
    )
    assert billed.state() == ("BLOCKED", "payment_failed")
    billed.stripe.fake.set_subscription_status(billed.stripe.seller, billed.stripe_subscription, "active")
    assert billed.deliver(http, "invoice.payment_succeeded", paid).json()["outcome"] == "unblocked"
    assert billed.state() == ("UNBLOCKED", None)


def test_several_signing_secrets_each_verify(http: httpx.Client, billed: Billed) -> None:
    # One endpoint for Connect events and one for the platform account's own: two secrets.
    set_monetization_info(
        billed.world.runtime,
        {
            "BillingEnginePlatformAccountKey": PLATFORM_KEY,
            "StripeWebhookSecret": f"whsec_account_endpoint, {WEBHOOK_SECRET}",
        },
    )
    invoice = billed.invoice()
    assert billed.deliver(http, "invoice.payment_failed", invoice).json()["outcome"] == "blocked"
    other = billed.deliver(http, "invoice.payment_failed", invoice, secret="whsec_account_endpoint")
    assert other.status_code == 200
    assert billed.deliver(http, "invoice.payment_failed", invoice, secret="whsec_nobody").status_code == 400
