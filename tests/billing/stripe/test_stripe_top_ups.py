"""Prepaid credit bought through Stripe Checkout: the payment page, then the wallet credited once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from tests.billing.stripe.conftest import WEBHOOK_SECRET, StripeSetup
from tests.monetization.world import World
from tests.support.identity import OrmIdentity
from tests.support.rest import STORE, config_version, expect
from tollway.wallets import entries

URL = "/api/am/stripe/webhook/carbon.super"
TOP_UPS = f"{STORE}/wallets/USD/top-ups"


def deliver(http: httpx.Client, stripe: StripeSetup, event_type: str, obj: Any) -> httpx.Response:
    payload, signature = stripe.fake.signed_event(event_type, obj, WEBHOOK_SECRET)
    return http.post(
        URL, content=payload, headers={"Stripe-Signature": signature, "Content-Type": "application/json"}
    )


def balance(world: World) -> Decimal:
    with world.tx() as session:
        wallet = entries.find_wallet(session, world.tenant_id, world.subscriber_id, "USD")
        return entries.balance_of(session, wallet.id) if wallet is not None else Decimal(0)


def test_a_paid_checkout_credits_the_wallet_once_however_often_stripe_says_so(
    http: httpx.Client, world: World, stripe: StripeSetup, identity: OrmIdentity
) -> None:
    dev = identity.login("dev")
    made = expect(http.post(TOP_UPS, headers=dev.headers, json={"amount": "12.50"}), 201)
    assert made["checkoutUrl"].startswith("https://checkout.stripe.com/") and made["amount"] == "12.50"
    platform: Any = stripe.client()
    session = platform.v1.checkout.sessions.retrieve(made["sessionId"])
    assert session["mode"] == "payment" and session["amount_total"] == 1250 and session["currency"] == "usd"
    assert session["success_url"].endswith("/devportal/wallets?top-up=paid")
    assert session["customer_email"] == "dev@example.com"
    # Not paid yet: a (forged or early) completion event credits nothing.
    early = deliver(http, stripe, "checkout.session.completed", session)
    assert early.status_code == 200 and early.json()["outcome"].startswith("ignored"), early.text
    assert balance(world) == 0
    paid = stripe.fake.complete_checkout_session(stripe.platform, made["sessionId"])
    before = config_version(world.runtime)
    first = deliver(http, stripe, "checkout.session.completed", paid)
    assert first.json()["outcome"].startswith("credited: 12.50 USD"), first.text
    assert balance(world) == Decimal("12.50")
    assert config_version(world.runtime) > before  # the gateway admits more calls
    again = deliver(http, stripe, "checkout.session.completed", paid)  # Stripe delivers at least once
    assert again.status_code == 200 and balance(world) == Decimal("12.50")
    mine = expect(http.get(f"{STORE}/wallets/USD/entries", headers=dev.headers), 200)
    (entry,) = mine["list"]
    assert (
        entry["kind"] == "TOP_UP"
        and entry["amount"] == "12.50"
        and entry["reference"] == f"stripe:{made['sessionId']}"
    )


def test_top_up_amounts_stripe_cannot_charge_are_refused_before_stripe_is_asked(
    http: httpx.Client, world: World, stripe: StripeSetup, identity: OrmIdentity
) -> None:
    dev = identity.login("dev")
    stripe.fake.clear_requests()
    for amount, field in (("0.001", "amount"), ("0", "amount"), ("-5", "amount"), ("abc", "amount")):
        answer = http.post(TOP_UPS, headers=dev.headers, json={"amount": amount})
        assert answer.status_code == 400 and field in answer.json()["description"], (amount, answer.text)
    bad_currency = http.post(f"{STORE}/wallets/XYZ/top-ups", headers=dev.headers, json={"amount": "5"})
    assert bad_currency.status_code == 400 and "currency" in bad_currency.json()["description"]
    not_a_url = http.post(TOP_UPS, headers=dev.headers, json={"amount": "5", "successUrl": "javascript:x"})
    assert not_a_url.status_code == 400
    assert not [r for r in stripe.fake.requests if r.path.startswith("/v1/checkout")]
