"""Business plans and API monetization in Stripe: products, meters and immutable prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.billing.stripe.conftest import StripeSetup
from tests.monetization.world import World
from tollway.errors import BadRequest, BillingEngineError
from tollway.models import MonApiTierPlan, MonPolicyPlan, SubscriptionPolicy
from tollway.policies.service import delete_policy


def _policy_plan(world: World, policy_id: str) -> MonPolicyPlan:
    with world.tx() as session:
        row = session.get(MonPolicyPlan, policy_id)
        assert row is not None
        session.expunge(row)
        return row


def _tier_rows(world: World, api_id: str) -> list[MonApiTierPlan]:
    with world.tx() as session:
        rows = list(session.scalars(select(MonApiTierPlan).where(MonApiTierPlan.api_id == api_id)))
        for row in rows:
            session.expunge(row)
        return rows


def test_a_dynamic_plan_is_a_meter_and_a_metered_price_in_exact_sub_cent_units(
    world: World, stripe: StripeSetup
) -> None:
    policy = world.policy("Pro", price="0.0004")
    row = _policy_plan(world, policy)
    client = stripe.client()
    price: Any = client.v1.prices.retrieve(row.engine_plan_id)
    assert price["currency"] == "usd" and price["unit_amount_decimal"] == "0.04"  # cents, exact
    assert price["recurring"]["usage_type"] == "metered"
    assert price["recurring"]["meter"] == row.engine_meter_id and price["product"] == row.engine_product_id
    meter: Any = client.v1.billing.meters.retrieve(row.engine_meter_id)
    assert meter["status"] == "active" and meter["default_aggregation"]["formula"] == "sum"
    product: Any = client.v1.products.retrieve(row.engine_product_id)
    assert product["name"] == "Pro" and product["metadata"]["tollway_policy_id"] == policy
    # Everything went to the tenant's platform account, each create with its idempotency key.
    creates = [r for r in stripe.fake.requests if r.method == "POST"]
    assert {r.account for r in creates} == {stripe.platform}
    assert all(r.idempotency_key and r.idempotency_key.startswith(f"plan:{policy}:r") for r in creates)


def test_fixed_and_tiered_plans_map_to_licensed_and_tiered_prices(world: World, stripe: StripeSetup) -> None:
    client = stripe.client()
    fixed = _policy_plan(
        world, world.policy("Flat", plan="FixedRate", price=None, fixed="9.99", cycle="year")
    )
    price: Any = client.v1.prices.retrieve(fixed.engine_plan_id)
    assert price["unit_amount_decimal"] == "999" and price["recurring"]["interval"] == "year"
    assert price["recurring"]["usage_type"] == "licensed" and fixed.engine_meter_id is None

    yen = _policy_plan(world, world.policy("Yen", price="0.5", currency="JPY", cycle="week"))
    assert client.v1.prices.retrieve(yen.engine_plan_id)["unit_amount_decimal"] == "0.5"  # JPY has no cents

    tiered = _policy_plan(
        world, world.policy("Tiered", price=None, included=100, tiers=[(1000, "0.001"), (None, "0.0005")])
    )
    tiers = client.v1.prices.retrieve(tiered.engine_plan_id, {"expand": ["tiers"]})["tiers"]
    assert [(t["up_to"], t["unit_amount_decimal"]) for t in tiers] == [
        (100, "0"),  # the included requests are a free first tier
        (1000, "0.1"),
        (None, "0.05"),
    ]
    # Stripe's volume prices cannot make the first calls free: refused, naming the field, nothing kept.
    before = len(client.v1.products.list({"limit": 100})["data"])
    with pytest.raises(BadRequest, match="includedRequests"):
        world.policy(
            "Volume", price=None, included=10, tiers=[(10, "0.01"), (None, "0.001")], tier_mode="volume"
        )
    assert len(client.v1.products.list({"limit": 100})["data"]) == before
    with world.tx() as session:
        assert session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Volume")) is None


def test_a_prepaid_plan_is_refused_by_the_stripe_engine_naming_billing_mode(
    world: World, stripe: StripeSetup
) -> None:
    """Stripe would invoice the calls the wallet already paid for: refused, nothing kept."""
    client = stripe.client()
    before = len(client.v1.products.list({"limit": 100})["data"])
    with pytest.raises(BadRequest, match="billingMode"):
        world.policy("Prepaid", mode="PREPAID")
    assert len(client.v1.products.list({"limit": 100})["data"]) == before
    with world.tx() as session:
        assert session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Prepaid")) is None


def test_editing_a_plan_makes_a_new_price_and_retires_the_old_one(world: World, stripe: StripeSetup) -> None:
    client = stripe.client()
    policy = world.policy("Pro", price="0.0004")
    first = _policy_plan(world, policy)

    world.edit_policy(policy, description="now with a description")  # nothing billing-relevant
    assert _policy_plan(world, policy).engine_plan_id == first.engine_plan_id
    assert client.v1.products.retrieve(first.engine_product_id)["description"] == "now with a description"

    world.edit_policy(policy, price_per_request=Decimal("0.0005"))
    second = _policy_plan(world, policy)
    assert second.engine_plan_id != first.engine_plan_id
    assert (second.engine_product_id, second.engine_meter_id) == (
        first.engine_product_id,
        first.engine_meter_id,
    )
    old: Any = client.v1.prices.retrieve(first.engine_plan_id)
    new: Any = client.v1.prices.retrieve(second.engine_plan_id)
    assert (old["active"], old["unit_amount_decimal"]) == (False, "0.04")  # prices are immutable
    assert (new["active"], new["unit_amount_decimal"]) == (True, "0.05")

    with world.tx() as session:
        row = session.get(SubscriptionPolicy, policy)
        assert row is not None
        delete_policy(session, world.runtime.hooks, row)
    assert client.v1.prices.retrieve(second.engine_plan_id)["active"] is False
    assert client.v1.products.retrieve(first.engine_product_id)["active"] is False
    assert client.v1.billing.meters.retrieve(first.engine_meter_id)["status"] == "inactive"


def test_a_failed_edit_keeps_the_old_price_in_use(world: World, stripe: StripeSetup) -> None:
    client = stripe.client()
    policy = world.policy("Pro", price="0.0004")
    first = _policy_plan(world, policy)
    stripe.fake.fail_next(20, status=400, path_prefix="/v1/prices", method="POST")
    with pytest.raises(BillingEngineError):
        world.edit_policy(policy, price_per_request=Decimal("0.0009"))
    stripe.fake.clear_requests()
    assert _policy_plan(world, policy).engine_plan_id == first.engine_plan_id
    assert client.v1.prices.retrieve(first.engine_plan_id)["active"] is True


def test_monetizing_an_api_creates_its_plans_in_the_connected_account(
    world: World, stripe: StripeSetup
) -> None:
    world.policy("Pro", price="0.0004")
    world.policy("Flat", plan="FixedRate", price=None, fixed="20")
    api = world.api(policies=["Pro", "Flat"])
    stripe.fake.clear_requests()
    world.monetize(api, {"ConnectedAccountKey": stripe.seller})
    assert {r.account for r in stripe.fake.requests} == {stripe.seller}  # Stripe-Account on every call

    seller = stripe.client(stripe.seller)
    tiers = {row.tier_name: row for row in _tier_rows(world, api)}
    pro: Any = seller.v1.prices.retrieve(tiers["Pro"].engine_plan_id)
    flat: Any = seller.v1.prices.retrieve(tiers["Flat"].engine_plan_id)
    assert pro["unit_amount_decimal"] == "0.04" and pro["recurring"]["usage_type"] == "metered"
    assert seller.v1.billing.meters.retrieve(pro["recurring"]["meter"])["status"] == "active"
    assert flat["unit_amount_decimal"] == "2000" and flat["recurring"]["usage_type"] == "licensed"
    assert pro["product"] == flat["product"] == tiers["Pro"].engine_product_id
    assert seller.v1.products.retrieve(pro["product"])["name"] == "Pizza 1.0.0"
    # None of it is in the platform account.
    assert all(p["id"] not in (pro["id"], flat["id"]) for p in stripe.client().v1.prices.list({"limit": 100}))

    world.monetize(api, enabled=False)
    assert seller.v1.prices.retrieve(pro["id"])["active"] is False
    assert seller.v1.prices.retrieve(flat["id"])["active"] is False
    assert seller.v1.products.retrieve(pro["product"])["active"] is False
    assert _tier_rows(world, api) == []

    # Enabled again (the same plan versions within Stripe's 24-hour idempotency window): usable again.
    world.monetize(api, {"ConnectedAccountKey": stripe.seller})
    again = {row.tier_name: row for row in _tier_rows(world, api)}
    assert seller.v1.prices.retrieve(again["Pro"].engine_plan_id)["active"] is True
    assert seller.v1.products.retrieve(again["Pro"].engine_product_id)["active"] is True
    world.subscribe(world.app(), api)


def test_a_connected_account_the_platform_cannot_reach_is_refused_naming_the_property(
    world: World, stripe: StripeSetup
) -> None:
    world.policy("Pro")
    api = world.api()
    with pytest.raises(BadRequest, match="ConnectedAccountKey"):
        world.monetize(api, {"ConnectedAccountKey": "acct_nobodyknowsthis1"})
    assert _tier_rows(world, api) == []


def test_a_failure_half_way_through_monetizing_leaves_nothing_behind(
    world: World, stripe: StripeSetup
) -> None:
    world.policy("Pro", price="0.0004")
    world.policy("Flat", plan="FixedRate", price=None, fixed="20")
    api = world.api(policies=["Pro", "Flat"])
    seller = stripe.client(stripe.seller)
    # The second price fails (the first one, the product and the meter were made).
    stripe.fake.fail_next(1, status=400, path_prefix="/v1/prices", method="POST")
    stripe.fake.fail_next(1, status=400, path_prefix="/v1/prices", method="POST")
    with pytest.raises(BillingEngineError):
        world.monetize(api, {"ConnectedAccountKey": stripe.seller})
    assert _tier_rows(world, api) == []
    assert [p for p in seller.v1.prices.list({"limit": 100})["data"] if p["active"]] == []
    assert seller.v1.products.list({"limit": 100})["data"] == []  # deleted: it had no prices
    assert seller.v1.billing.meters.list({"status": "active"})["data"] == []


def test_a_plan_whose_price_fails_leaves_no_product_or_meter_behind(
    world: World, stripe: StripeSetup
) -> None:
    client = stripe.client()
    stripe.fake.fail_next(1, status=400, path_prefix="/v1/prices", method="POST")
    with pytest.raises(BillingEngineError):
        world.policy("Pro", price="0.0004")  # the product and the meter were made first
    assert client.v1.products.list({"limit": 100})["data"] == []  # deleted: it had no price
    assert client.v1.billing.meters.list({"status": "active"})["data"] == []
    with world.tx() as session:
        assert session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Pro")) is None
        assert session.scalars(select(MonPolicyPlan)).all() == []
    world.policy("Pro", price="0.0004")  # nothing is stuck: with Stripe answering, the plan is made
    assert [m["status"] for m in client.v1.billing.meters.list({"limit": 100})["data"]] == [
        "active",
        "inactive",
    ]
