"""The Stripe engine against Stripe itself, in test mode (opt-in: needs STRIPE_TEST_SECRET_KEY).

    STRIPE_TEST_SECRET_KEY=sk_test_... [STRIPE_TEST_CONNECTED_ACCOUNT=acct_...] \
        .venv/bin/pytest tests/billing/stripe/test_live.py

Without STRIPE_TEST_CONNECTED_ACCOUNT the API is monetized in the platform account itself. Every
object the test makes is deactivated or deleted at the end. Stripe aggregates meter events
asynchronously, so the invoice is polled for up to two minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe as sdk
from sqlalchemy import select

from tests.billing.stripe.conftest import set_monetization_info
from tests.monetization.world import World
from tollway.config import Settings, load_settings
from tollway.db.base import utcnow
from tollway.invoicing.maintenance import run_maintenance
from tollway.models import MonPolicyPlan
from tollway.runtime import Runtime

KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
ACCOUNT = os.environ.get("STRIPE_TEST_CONNECTED_ACCOUNT", "")

pytestmark = [
    pytest.mark.skipif(
        not KEY,
        reason="live Stripe suite: set STRIPE_TEST_SECRET_KEY to a test-mode key (docs/billing-engines.md)",
    ),
    pytest.mark.skipif(
        bool(KEY) and not KEY.startswith(("sk_test_", "rk_test_")),
        reason="STRIPE_TEST_SECRET_KEY is not a test-mode key; the live suite never runs against live mode",
    ),
]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={
            "server": {"data_dir": str(tmp_path / "data")},
            "database": {"url": database_url},
            "monetization": {
                "engine": "stripe",
                "stripe": {"max_retry_seconds": 30},
                "additional_attributes": [{"name": "ConnectedAccountKey", "required": False}],
            },
        },
    )


@pytest.fixture
def live(runtime: Runtime) -> Iterator[World]:
    set_monetization_info(
        runtime, {"BillingEnginePlatformAccountKey": KEY, "StripeWebhookSecret": "whsec_unused"}
    )
    world = World(runtime)
    yield world


def _until(check: Any, limit: float = 120) -> Any:
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(3)


def test_plan_monetize_subscribe_publish_invoice_unsubscribe_on_stripe(live: World) -> None:
    world = live
    client = sdk.StripeClient(KEY)
    options: Any = {"stripe_account": ACCOUNT} if ACCOUNT else {}
    world.policy("LivePerCall", price="0.0004")
    api = world.api("LiveApi", policies=["LivePerCall"])
    world.monetize(api, {"ConnectedAccountKey": ACCOUNT} if ACCOUNT else {})
    sub = world.subscribe(world.app(), api, tier="LivePerCall")
    (row,) = world.mon_rows(sub)
    stripe_sub: Any = client.v1.subscriptions.retrieve(row.engine_subscription_id, None, options)
    meter = stripe_sub["items"]["data"][0]["price"]["recurring"]["meter"]
    try:
        assert stripe_sub["status"] == "active"
        world.calls(sub, 2500)
        assert world.publish().failed == 0
        invoice = _until(lambda: (i := world.invoice(sub)).total == Decimal("1.00") and i)
        assert invoice, "Stripe did not aggregate the meter events in time"
        world.unsubscribe(sub)
        run_maintenance(world.svc, world.runtime.session_factory, now=utcnow() + timedelta(seconds=3))
        ended: Any = client.v1.subscriptions.retrieve(row.engine_subscription_id, None, options)
        assert ended["status"] == "canceled"
    finally:
        world.monetize(api, enabled=False)
        client.v1.billing.meters.deactivate(meter, None, options)
        with world.tx() as session:  # the business plan's objects in the platform account
            plan = session.scalars(select(MonPolicyPlan)).one()
        client.v1.prices.update(plan.engine_plan_id, {"active": False})
        client.v1.products.update(plan.engine_product_id, {"active": False})
        if plan.engine_meter_id:
            client.v1.billing.meters.deactivate(plan.engine_meter_id)
        query = {"query": f"metadata['tollway_user_id']:'{world.subscriber_id}'"}
        for account_options in ({}, options) if options else ({},):
            for customer in client.v1.customers.search(query, account_options):
                client.v1.customers.delete(customer["id"], None, account_options)
