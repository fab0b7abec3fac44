"""The manual's whole scenario with engine = stripe, over HTTP, through the real gateway.

Admin plan -> publisher API, monetized with a connected account -> subscriber application, keys,
subscription -> calls through the gateway -> usage published by the admin API -> invoice in both
portals' APIs -> revenue. The same usage billed by the ledger engine gives the same amounts. And a
failed payment reported by Stripe's webhook makes the gateway refuse the subscription's calls
until the payment arrives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.billing.conftest import use_engine
from tests.billing.stripe.conftest import WEBHOOK_SECRET, StripeSetup
from tests.gateway.support import Backend, GatewayThread, wait_until
from tests.support.identity import OrmIdentity
from tests.support.rest import ADMIN, POLICIES, PUBLISHER, STORE, commercial_plan, expect, new_api
from tollway.db.base import utcnow
from tollway.identity.roles import ROLE_PUBLISHER, ROLE_SUBSCRIBER
from tollway.metering.queries import usage_counts
from tollway.runtime import Runtime


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend().start()
    yield server
    server.stop()


@pytest.fixture
def gateway(runtime: Runtime, stripe: StripeSetup) -> Iterator[GatewayThread]:
    with GatewayThread(runtime) as running:
        yield running


class Manual:
    """The manual's steps, each as its users do them over HTTP."""

    def __init__(self, http: httpx.Client, identity: OrmIdentity, runtime: Runtime, backend: Backend) -> None:
        self.http, self.runtime, self.backend = http, runtime, backend
        self.admin = identity.login("admin")
        self.publisher = identity.user("publisher1", [ROLE_PUBLISHER])
        self.subscriber = identity.user("subscriber1", [ROLE_SUBSCRIBER])

    def plan(self, name: str, **changes: Any) -> None:
        roomy = {"timeUnit": "min", "unitTime": 1, "requestCount": 1_000_000}  # billing, not throttling
        body = commercial_plan(name, **changes)
        body.update(defaultLimit={"type": "RequestCountLimit", "requestCount": roomy}, rateLimitCount=100_000)
        expect(self.http.post(POLICIES, json=body, headers=self.admin.headers), 201)

    def monetized_api(self, name: str, plan: str, account: str) -> str:
        endpoints = {
            "endpoint_type": "http",
            "production_endpoints": {"url": self.backend.url},
            "sandbox_endpoints": {"url": self.backend.url},
        }
        body = new_api(name, context=f"/{name.lower()}", policies=[plan], endpointConfig=endpoints)
        api_id = expect(self.http.post(f"{PUBLISHER}/apis", json=body, headers=self.publisher.headers), 201)[
            "id"
        ]
        params = {"apiId": api_id, "action": "Publish"}
        expect(
            self.http.post(
                f"{PUBLISHER}/apis/change-lifecycle", params=params, headers=self.publisher.headers
            ),
            200,
        )
        monetize = {"enabled": True, "properties": {"ConnectedAccountKey": account}}
        answer = self.http.post(
            f"{PUBLISHER}/apis/{api_id}/monetize", json=monetize, headers=self.publisher.headers
        )
        assert set(expect(answer, 201)["properties"]) == {plan}
        return str(api_id)

    def subscribe(self, api_id: str, plan: str, app: str) -> tuple[str, str]:
        """(subscription id, the application's access token)."""
        headers = self.subscriber.headers
        app_id = expect(self.http.post(f"{STORE}/applications", json={"name": app}, headers=headers), 201)[
            "applicationId"
        ]
        keys = {
            "keyType": "PRODUCTION",
            "grantTypesToBeSupported": ["client_credentials"],
            "validityTime": 3600,
        }
        token = expect(
            self.http.post(f"{STORE}/applications/{app_id}/generate-keys", json=keys, headers=headers), 200
        )["token"]["accessToken"]
        body = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": plan}
        sub = expect(self.http.post(f"{STORE}/subscriptions", json=body, headers=headers), 201)
        return str(sub["subscriptionId"]), str(token)

    def calls(self, gateway: GatewayThread, context: str, token: str, subscription: str, count: int) -> None:
        """``count`` billable calls through the gateway (after it has picked the subscription up)."""
        began = utcnow()
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            wait_until(
                lambda: client.get(f"/{context}/1.0.0/status/500", headers=auth).status_code == 500, 10
            )
            for _ in range(count):
                assert client.get(f"/{context}/1.0.0/status/200", headers=auth).status_code == 200

        def metered() -> bool:
            with self.runtime.session_factory() as session:
                counts = usage_counts(session, [subscription], began - timedelta(seconds=1), utcnow())
            return counts.get(subscription, (0, 0))[0] == count

        wait_until(metered, 10)

    def publish_usage(self) -> None:
        time.sleep(2.2)  # the publisher leaves the last two seconds for calls still in flight
        expect(self.http.post(f"{ADMIN}/monetization/publish-usage", headers=self.admin.headers), 202)

        def done() -> bool:
            status = expect(
                self.http.get(f"{ADMIN}/monetization/publish-usage/status", headers=self.admin.headers), 200
            )
            return status["state"] == "COMPLETED"

        wait_until(done, 30, 0.05)
        status = expect(
            self.http.get(f"{ADMIN}/monetization/publish-usage/status", headers=self.admin.headers), 200
        )
        assert status["status"] == "SUCCESSFUL", status

    def invoice(self, subscription: str) -> dict[str, Any]:
        mine = expect(
            self.http.get(f"{STORE}/subscriptions/{subscription}/usage", headers=self.subscriber.headers), 200
        )
        theirs = self.http.get(
            f"{PUBLISHER}/subscriptions/{subscription}/usage", headers=self.publisher.headers
        )
        assert expect(theirs, 200)["invoice"]["total"] == mine["invoice"]["total"]
        return dict(mine)

    def revenue(self, api_id: str) -> dict[str, str]:
        answer = self.http.get(f"{PUBLISHER}/apis/{api_id}/revenue", headers=self.publisher.headers)
        return dict(expect(answer, 200)["properties"])


@pytest.fixture
def manual(http: httpx.Client, identity: OrmIdentity, runtime: Runtime, backend: Backend) -> Manual:
    return Manual(http, identity, runtime, backend)


def test_the_manuals_scenario_on_stripe_bills_what_the_ledger_bills(
    manual: Manual, stripe: StripeSetup, gateway: GatewayThread, runtime: Runtime
) -> None:
    calls = (2500, 437)
    billed: dict[str, list[dict[str, Any]]] = {}
    revenue: dict[str, dict[str, str]] = {}
    for engine in ("stripe", "ledger"):
        if engine == "ledger":
            use_engine(runtime, "ledger")
        plan, name = f"PerCall{engine}", f"Pizza{engine}"
        manual.plan(plan, price="0.0004")
        api_id = manual.monetized_api(name, plan, stripe.seller)
        subs = [manual.subscribe(api_id, plan, f"{engine}-app{i}") for i in range(len(calls))]
        for (sub, token), count in zip(subs, calls, strict=True):
            manual.calls(gateway, name.lower(), token, sub, count)
        manual.publish_usage()
        billed[engine] = [manual.invoice(sub) for sub, _ in subs]
        revenue[engine] = {
            key: value for key, value in manual.revenue(api_id).items() if key in ("total", "currency")
        }

    totals = {engine: [i["invoice"]["total"] for i in invoices] for engine, invoices in billed.items()}
    assert totals == {"stripe": ["1.00", "0.17"], "ledger": ["1.00", "0.17"]}  # 437 x 0.0004 = 0.1748
    assert revenue["stripe"] == revenue["ledger"] == {"total": "1.17", "currency": "USD"}
    stripe_invoice = billed["stripe"][0]
    assert stripe_invoice["properties"]["Billable Requests"] == "2500"
    assert [
        (line["quantity"], line["unitAmount"], line["amount"]) for line in stripe_invoice["invoice"]["lines"]
    ] == [(2500, "0.0004", "1.00")]
    # And Stripe has it: the meter events are in the connected account, named by usage keys.
    streamed = [r for r in stripe.fake.requests if r.path == "/v1/billing/meter_events" and r.status == 200]
    assert len(streamed) == 2 and {r.account for r in streamed} == {stripe.seller}
    assert all(r.params["identifier"].startswith("usage:") for r in streamed)


def test_a_failed_payment_blocks_the_subscription_at_the_gateway_until_it_is_paid(
    manual: Manual, stripe: StripeSetup, gateway: GatewayThread, http: httpx.Client
) -> None:
    manual.plan(
        "Monthly",
        monetization={
            "monetizationPlan": "FixedRate",
            "properties": {"fixedPrice": "25", "currencyType": "USD", "billingCycle": "month"},
        },
    )
    api_id = manual.monetized_api("Weather", "Monthly", stripe.seller)
    subscription, token = manual.subscribe(api_id, "Monthly", "forecasts")
    seller: Any = stripe.client(stripe.seller)
    (invoice,) = seller.v1.invoices.list({"limit": 10})["data"]  # the month's fee, sent to the customer
    auth = {"Authorization": f"Bearer {token}"}

    def answer() -> int:
        return httpx.get(f"{gateway.url}/weather/1.0.0/status/200", headers=auth, timeout=10).status_code

    wait_until(lambda: answer() == 200, 10)

    def webhook(event_type: str, obj: Any) -> None:
        payload, signature = stripe.fake.signed_event(event_type, obj, WEBHOOK_SECRET, account=stripe.seller)
        headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
        assert (
            http.post("/api/am/stripe/webhook/carbon.super", content=payload, headers=headers).status_code
            == 200
        )

    webhook("invoice.payment_failed", invoice)
    wait_until(lambda: answer() == 403, 10)
    status = expect(http.get(f"{STORE}/subscriptions/{subscription}", headers=manual.subscriber.headers), 200)
    assert status["status"] == "BLOCKED"

    webhook("invoice.paid", seller.v1.invoices.pay(invoice["id"]))
    wait_until(lambda: answer() == 200, 10)
