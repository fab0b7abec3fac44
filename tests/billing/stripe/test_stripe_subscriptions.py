"""Subscribing through Stripe: platform customer, shared customer, subscription; undo; unsubscribe."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.billing.stripe.conftest import StripeSetup
from tests.monetization.world import World
from tollway.db.base import utcnow
from tollway.errors import BillingEngineError
from tollway.invoicing.maintenance import run_maintenance
from tollway.models import (
    Invoice,
    MonApiTierPlan,
    MonPlatformCustomer,
    MonSharedCustomer,
    MonSubscription,
    Subscription,
    SubscriptionPolicy,
)
from tollway.publishing.usage_publisher import SETTLE


def _monetized_api(world: World, stripe: StripeSetup, **policy: Any) -> str:
    world.policy("Pro", **policy)
    api = world.api()
    world.monetize(api, {"ConnectedAccountKey": stripe.seller})
    return api


def _count(world: World, model: Any) -> int:
    with world.tx() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _live_customers(stripe: StripeSetup, account: str | None = None) -> list[Any]:
    return list(stripe.client(account).v1.customers.list({"limit": 100})["data"])


def test_subscribing_makes_a_platform_customer_a_shared_customer_and_a_subscription(
    world: World, stripe: StripeSetup
) -> None:
    api = _monetized_api(world, stripe)
    app = world.app()
    sub = world.subscribe(app, api)
    (row,) = world.mon_rows(sub)
    with world.tx() as session:
        platform = session.scalars(select(MonPlatformCustomer)).one()
        shared = session.scalars(select(MonSharedCustomer)).one()
        tier = session.scalars(select(MonApiTierPlan)).one()
        platform_id, shared_id, price = (
            platform.engine_customer_id,
            shared.engine_customer_id,
            tier.engine_plan_id,
        )
        assert shared.parent_id == platform.id and row.shared_customer_id == shared.id

    customer: Any = stripe.client().v1.customers.retrieve(platform_id)
    assert (customer["email"], customer["metadata"]["tollway_user_id"]) == (
        "dev@example.com",
        world.subscriber_id,
    )
    seller = stripe.client(stripe.seller)
    copy: Any = seller.v1.customers.retrieve(shared_id)
    assert copy["email"] == "dev@example.com" and copy["metadata"]["tollway_platform_customer"] == platform_id
    stripe_sub: Any = seller.v1.subscriptions.retrieve(row.engine_subscription_id)
    assert stripe_sub["customer"] == shared_id and stripe_sub["status"] == "active"
    assert [item["price"]["id"] for item in stripe_sub["items"]["data"]] == [price]
    assert stripe_sub["collection_method"] == "send_invoice"  # invoices go to the customer to pay
    assert stripe_sub["metadata"]["tollway_subscription_id"] == sub

    # The same subscriber again: the platform customer is reused; another application gets its own
    # shared customer, the same application another subscription on the same customer.
    other_api = world.api("Pasta")
    world.monetize(other_api, {"ConnectedAccountKey": stripe.seller})
    world.subscribe(app, other_api)
    world.subscribe(world.app(), api)
    assert len(_live_customers(stripe)) == 1
    assert len(_live_customers(stripe, stripe.seller)) == 2
    assert len(seller.v1.subscriptions.list({"limit": 100})["data"]) == 3


def test_a_platform_customer_made_earlier_is_found_not_made_again(world: World, stripe: StripeSetup) -> None:
    api = _monetized_api(world, stripe)
    world.subscribe(world.app(), api)
    with world.tx() as session:  # Tollway lost its row (say, a restore from an older backup)
        session.query(MonSharedCustomer).delete()
        session.query(MonPlatformCustomer).delete()
    world.subscribe(world.app(), api)
    assert len(_live_customers(stripe)) == 1


@pytest.mark.parametrize("status", [400, 503])
def test_a_failed_subscription_undoes_the_customers_in_stripe_and_in_the_database(
    world: World, stripe: StripeSetup, status: int
) -> None:
    api = _monetized_api(world, stripe)
    # 400: refused at once; 503: retried until the retry budget (3 s here) runs out.
    stripe.fake.fail_next(
        1 if status == 400 else 100, status=status, path_prefix="/v1/subscriptions", method="POST"
    )
    with pytest.raises(BillingEngineError):
        world.subscribe(world.app(), api)
    for model in (Subscription, MonSubscription, MonSharedCustomer, MonPlatformCustomer):
        assert _count(world, model) == 0, model
    assert _live_customers(stripe) == [] and _live_customers(stripe, stripe.seller) == []
    assert stripe.client(stripe.seller).v1.subscriptions.list({"status": "all"})["data"] == []

    if status == 400:  # nothing is stuck: with Stripe answering again, the same subscriber subscribes
        world.subscribe(world.app(), api)
        assert len(_live_customers(stripe)) == 1 and len(_live_customers(stripe, stripe.seller)) == 1


def test_a_rollback_after_stripe_said_yes_cancels_and_voids_what_it_made(
    world: World, stripe: StripeSetup
) -> None:
    api = _monetized_api(world, stripe, plan="FixedRate", price=None, fixed="25")
    app = world.app()
    with pytest.raises(RuntimeError), world.tx() as session:
        policy = session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Pro"))
        assert policy is not None
        row = Subscription(
            tenant_id=world.tenant_id, application_id=app, api_id=api, policy_id=policy.id, status="UNBLOCKED"
        )
        session.add(row)
        session.flush()
        world.runtime.hooks.subscription_created(session, row)
        raise RuntimeError("the request failed after the engine answered")
    seller = stripe.client(stripe.seller)
    (stripe_sub,) = seller.v1.subscriptions.list({"status": "all"})["data"]
    assert stripe_sub["status"] == "canceled"
    invoices = seller.v1.invoices.list({"subscription": stripe_sub["id"]})["data"]
    assert [i["status"] for i in invoices] == ["void"]  # the fee billed in advance is not owed
    assert _live_customers(stripe) == [] and _live_customers(stripe, stripe.seller) == []
    assert _count(world, MonSubscription) == 0


def test_unsubscribing_cancels_with_a_final_invoice_for_the_usage(world: World, stripe: StripeSetup) -> None:
    api = _monetized_api(world, stripe, price="0.0004")
    sub = world.subscribe(world.app(), api)
    (row,) = world.mon_rows(sub)
    world.calls(sub, 2500)
    world.unsubscribe(sub)
    # Once the last calls have settled, the maintenance run publishes the usage up to the end,
    # tells Stripe, and stores the final period's invoice.
    run_maintenance(world.svc, world.runtime.session_factory, now=utcnow() + SETTLE + timedelta(seconds=1))

    seller = stripe.client(stripe.seller)
    stripe_sub: Any = seller.v1.subscriptions.retrieve(row.engine_subscription_id)
    assert stripe_sub["status"] == "canceled"
    final = [
        i
        for i in seller.v1.invoices.list({"subscription": row.engine_subscription_id})["data"]
        if i["billing_reason"] != "subscription_create"
    ]
    assert [(i["total"], i["status"]) for i in final] == [(100, "open")]  # 2500 x 0.04 cents
    (ended,) = world.mon_rows(sub)
    assert ended.status == "ended" and ended.canceled_at is not None
    with world.tx() as session:
        (stored,) = session.scalars(select(Invoice)).all()
        # Compared as numbers: PostgreSQL and MariaDB hand back the column's 12 places.
        assert (stored.total, stored.engine_invoice_id) == (Decimal("1.00"), final[0]["id"])
        assert stored.period_end == ended.canceled_at and stored.status == "open"


def test_disabling_monetization_ends_subscriptions_at_the_end_of_their_period(
    world: World, stripe: StripeSetup
) -> None:
    api = _monetized_api(world, stripe, price="0.0004")
    sub = world.subscribe(world.app(), api)
    (row,) = world.mon_rows(sub)
    world.monetize(api, enabled=False)
    seller = stripe.client(stripe.seller)
    stripe_sub: Any = seller.v1.subscriptions.retrieve(row.engine_subscription_id)
    assert stripe_sub["status"] == "active" and stripe_sub["cancel_at_period_end"] is True
    assert stripe_sub["cancel_at"] == stripe_sub["items"]["data"][0]["current_period_end"]


def test_enabling_again_within_the_period_resumes_the_stripe_subscription_without_a_second_fee(
    world: World, stripe: StripeSetup
) -> None:
    api = _monetized_api(world, stripe, plan="FixedRate", price=None, fixed="10")
    sub = world.subscribe(world.app(), api)
    world.monetize(api, enabled=False)
    world.monetize(api, {"ConnectedAccountKey": stripe.seller})
    (row,) = world.mon_rows(sub)
    assert (row.status, row.canceled_at) == ("active", None)
    seller = stripe.client(stripe.seller)
    stripe_sub: Any = seller.v1.subscriptions.retrieve(row.engine_subscription_id)
    assert (stripe_sub["status"], stripe_sub["cancel_at_period_end"], stripe_sub["cancel_at"]) == (
        "active",
        False,
        None,
    )
    assert [s["id"] for s in seller.v1.subscriptions.list({"limit": 100})["data"]] == [
        row.engine_subscription_id
    ]
    # One fee for the period: the first invoice, nothing billed again.
    fees = seller.v1.invoices.list({"subscription": row.engine_subscription_id})["data"]
    assert [i["total"] for i in fees] == [1000]
    result = run_maintenance(world.svc, world.runtime.session_factory, now=utcnow() + timedelta(seconds=10))
    assert result.subscriptions_ended == 0


def test_a_subscription_stripe_made_although_its_answer_was_lost_is_cancelled(
    world: World, stripe: StripeSetup
) -> None:
    api = _monetized_api(world, stripe, plan="FixedRate", price=None, fixed="25")
    other = world.api("Pasta")
    world.monetize(other, {"ConnectedAccountKey": stripe.seller})
    app = world.app()
    kept = world.subscribe(app, api)  # the application's shared customer exists from here on
    # Stripe makes the next subscription (and bills its first fee), but the answer never arrives.
    stripe.fake.fail_next(
        1, status=500, path_prefix="/v1/subscriptions", method="POST", should_retry=False, applied=True
    )
    with pytest.raises(BillingEngineError):
        world.subscribe(app, other)
    seller = stripe.client(stripe.seller)
    (kept_row,) = world.mon_rows(kept)
    live = seller.v1.subscriptions.list({"limit": 100})["data"]
    assert [s["id"] for s in live] == [kept_row.engine_subscription_id]
    (lost,) = [s for s in seller.v1.subscriptions.list({"status": "canceled"})["data"]]
    assert [i["status"] for i in seller.v1.invoices.list({"subscription": lost["id"]})["data"]] == ["void"]
    assert _count(world, MonSubscription) == 1 and _count(world, Subscription) == 1
