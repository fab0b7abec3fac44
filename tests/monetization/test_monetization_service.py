"""Monetization end to end below HTTP: hooks -> ledger engine -> publishing -> invoices and revenue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.monetization.world import World
from tollway.db.base import utcnow
from tollway.errors import BadRequest
from tollway.invoicing import invoices
from tollway.invoicing.maintenance import run_maintenance
from tollway.models import (
    Api,
    LedgerCustomer,
    LedgerPlan,
    LedgerSubscription,
    LedgerUsageRecord,
    MonApiTierPlan,
    MonPlatformCustomer,
    MonPolicyPlan,
    MonSharedCustomer,
    MonSubscription,
    SubscriptionPolicy,
)


def _count(world: World, model: type) -> int:
    with world.tx() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_business_plan_gets_an_engine_plan_and_free_plan_none(world: World) -> None:
    gold = world.policy("Pro")
    world.policy("Basic", plan=None, price=None, billing="FREE")
    with world.tx() as session:
        mapping = session.get(MonPolicyPlan, gold)
        assert mapping is not None
        plan = session.get(LedgerPlan, mapping.engine_plan_id)
        assert plan is not None and plan.active
        assert plan.pricing["pricePerRequest"] == "0.0004"
        assert session.scalar(select(func.count()).select_from(MonPolicyPlan)) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": "-1"}, "pricePerRequest"),
        ({"currency": "XYZ"}, "currencyType"),
        ({"cycle": "hourly"}, "billingCycle"),
        ({"plan": "SometimesRate"}, "monetizationPlan"),
        ({"plan": "FixedRate", "price": None}, "fixedPrice"),
    ],
)
def test_bad_business_plan_is_refused_naming_the_field_and_nothing_is_written(
    world: World, changes: dict[str, str | None], field: str
) -> None:
    policies_before = _count(world, SubscriptionPolicy)
    with pytest.raises(BadRequest) as refused:
        world.policy("Broken", **changes)  # type: ignore[arg-type]
    assert field in refused.value.description
    assert _count(world, SubscriptionPolicy) == policies_before
    assert _count(world, MonPolicyPlan) == 0
    assert _count(world, LedgerPlan) == 0


def test_editing_the_price_makes_a_new_plan_version_for_new_subscriptions_only(world: World) -> None:
    gold = world.policy("Pro", price="0.001")
    api = world.api()
    world.monetize(api)
    old_sub = world.subscribe(world.app(), api)
    world.calls(old_sub, 10)

    world.edit_policy(gold, price_per_request=Decimal("0.002"))
    new_sub = world.subscribe(world.app(), api)
    world.calls(new_sub, 10)
    world.publish()

    assert world.invoice(old_sub).total == Decimal("0.01")  # 10 x 0.001: the price subscribed at
    assert world.invoice(new_sub).total == Decimal("0.02")  # 10 x 0.002
    with world.tx() as session:
        assert session.scalar(select(func.count()).select_from(LedgerPlan).where(LedgerPlan.active)) == 2


def test_editing_a_description_keeps_the_plan(world: World) -> None:
    gold = world.policy("Pro")
    with world.tx() as session:
        before = session.get(MonPolicyPlan, gold)
        assert before is not None
        plan_id = before.engine_plan_id
    world.edit_policy(gold, description="now with extra cheese")
    with world.tx() as session:
        after = session.get(MonPolicyPlan, gold)
        assert after is not None and after.engine_plan_id == plan_id


def test_monetizing_needs_a_published_api(world: World) -> None:
    world.policy("Pro")
    api = world.api(status="CREATED")
    with pytest.raises(BadRequest) as refused:
        world.monetize(api)
    assert "lifeCycleStatus" in refused.value.description
    assert _count(world, MonApiTierPlan) == 0
    with world.tx() as session:
        row = session.get(Api, api)
        assert row is not None and not row.monetization_enabled


def test_required_attribute_missing_is_refused_and_nothing_is_written(world: World) -> None:
    world.runtime.settings = world.runtime.settings.model_copy(
        update={
            "monetization": world.runtime.settings.monetization.model_validate(
                {"additional_attributes": [{"name": "ConnectedAccountKey", "required": "true"}]}
            )
        }
    )
    world.policy("Pro")
    api = world.api()
    ledger_plans_before = _count(world, LedgerPlan)
    with pytest.raises(BadRequest) as refused:
        world.monetize(api, {})
    assert "properties.ConnectedAccountKey" in refused.value.description
    with pytest.raises(BadRequest) as unknown:
        world.monetize(api, {"ConnectedAccountKey": "acct_1", "Colour": "blue"})
    assert "properties.Colour" in unknown.value.description
    assert _count(world, MonApiTierPlan) == 0
    assert _count(world, LedgerPlan) == ledger_plans_before

    world.monetize(api, {"ConnectedAccountKey": "acct_1"})
    sub = world.subscribe(world.app(), api)
    with world.tx() as session:
        shared = session.scalar(select(MonSharedCustomer))
        assert shared is not None
        customer = session.get(LedgerCustomer, shared.engine_customer_id)
        assert customer is not None and customer.account == "acct_1"
    assert world.mon_rows(sub)[0].api_snapshot["properties"] == {"ConnectedAccountKey": "acct_1"}


def test_api_without_a_monetized_plan_cannot_be_monetized(world: World) -> None:
    world.policy("Basic", plan=None, price=None, billing="FREE")
    api = world.api(policies=["Basic"])
    with pytest.raises(BadRequest) as refused:
        world.monetize(api)
    assert "policies" in refused.value.description


def test_subscription_gets_customers_and_engine_subscription(world: World) -> None:
    world.policy("Pro")
    api, other_api = world.api("Pizza"), world.api("Pasta")
    world.monetize(api)
    world.monetize(other_api)
    app = world.app()
    sub = world.subscribe(app, api)
    world.subscribe(app, other_api)
    world.subscribe(world.app(), api)

    with world.tx() as session:
        # One platform customer per subscriber; one shared customer per application and provider.
        assert session.scalar(select(func.count()).select_from(MonPlatformCustomer)) == 1
        assert session.scalar(select(func.count()).select_from(MonSharedCustomer)) == 2
        assert session.scalar(select(func.count()).select_from(MonSubscription)) == 3
        row = session.scalar(select(MonSubscription).where(MonSubscription.subscription_id == sub))
        assert row is not None and row.status == "active" and row.plan_type == "DynamicRate"
        ledger = session.get(LedgerSubscription, row.engine_subscription_id)
        assert ledger is not None and ledger.anchor_at == row.started_at
        customer = session.get(LedgerCustomer, ledger.customer_id)
        assert customer is not None and customer.email == "dev@example.com" and customer.parent_id


def test_subscription_to_unmonetized_api_or_free_tier_is_not_billed(world: World) -> None:
    world.policy("Pro")
    world.policy("Basic", plan=None, price=None, billing="FREE")
    plain = world.api("Plain")
    paid = world.api("Paid", policies=["Pro", "Basic"])
    world.monetize(paid)
    world.subscribe(world.app(), plain)
    free = world.subscribe(world.app(), paid, tier="Basic")
    assert _count(world, MonSubscription) == 0
    with pytest.raises(Exception) as missing:
        world.invoice(free)
    assert "not billed" in str(missing.value)


def test_on_hold_subscription_is_billed_once_approved(world: World) -> None:
    world.policy("Pro")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api, status="ON_HOLD")
    assert world.mon_rows(sub) == []
    with world.tx() as session:
        from tollway.models import Subscription

        row = session.get(Subscription, sub)
        assert row is not None
        row.status = "UNBLOCKED"
        world.runtime.hooks.subscription_activated(session, row)  # type: ignore[attr-defined]
    assert [r.status for r in world.mon_rows(sub)] == ["active"]


def test_invoice_is_billable_calls_times_price_and_publishing_twice_changes_nothing(world: World) -> None:
    world.policy("Pro", price="0.0004")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.calls(sub, 2500)
    world.calls(sub, 7, billable=False)  # backend errors: recorded, never billed

    first = world.publish()
    assert (first.records, first.calls, first.failed) == (1, 2500, 0)
    invoice = world.invoice(sub)
    assert invoice.total == Decimal("1.00") and invoice.currency == "USD"
    assert [(line.quantity, line.unit_amount, line.amount) for line in invoice.lines] == [
        (2500, Decimal("0.0004"), Decimal("1.00"))
    ]
    assert invoice.status == "draft"

    second = world.publish()
    assert (second.records, second.calls) == (0, 0)
    assert world.invoice(sub) == invoice
    assert _count(world, LedgerUsageRecord) == 1


def test_usage_split_over_many_publishes_gives_the_same_invoice(world: World) -> None:
    world.policy("Pro", price="0.0004")
    api = world.api()
    world.monetize(api)
    one_go, in_batches = world.subscribe(world.app(), api), world.subscribe(world.app(), api)
    base = utcnow()
    for step, count in enumerate((3, 250, 1, 999, 1247)):
        at = base + timedelta(seconds=10 * step)
        world.calls(one_go, count, at=at)
        world.calls(in_batches, count, at=at)
        world.publish(now=at + timedelta(seconds=5))  # publishes in_batches (and one_go) so far
    world.publish(now=base + timedelta(minutes=5))
    assert world.invoice(one_go).total == world.invoice(in_batches).total == Decimal("1.00")


def test_each_subscription_publishes_from_its_own_watermark(world: World) -> None:
    world.policy("Pro", price="0.01")
    api = world.api()
    world.monetize(api)
    early = world.subscribe(world.app(), api)
    world.calls(early, 5)
    world.publish()
    late = world.subscribe(world.app(), api)  # created after the first run
    world.calls(late, 3)
    world.calls(early, 2)
    world.publish()
    assert world.invoice(early).total == Decimal("0.07")
    assert world.invoice(late).total == Decimal("0.03")
    (early_row,) = world.mon_rows(early)
    (late_row,) = world.mon_rows(late)
    assert early_row.usage_published_until == late_row.usage_published_until  # both up to date
    assert early_row.started_at < late_row.started_at


def test_fixed_rate_ignores_usage_and_sub_cent_prices_stay_exact(world: World) -> None:
    world.policy("Flat", plan="FixedRate", price=None, fixed="19.99", currency="usd", cycle="month")
    world.policy("Yen", price="0.5", currency="JPY")
    world.policy("Dinar", price="0.0005", currency="KWD")
    api = world.api(policies=["Flat", "Yen", "Dinar"])
    world.monetize(api)
    flat = world.subscribe(world.app(), api, tier="Flat")
    yen = world.subscribe(world.app(), api, tier="Yen")
    dinar = world.subscribe(world.app(), api, tier="Dinar")
    for sub in (flat, yen, dinar):
        world.calls(sub, 3)
    world.publish()
    assert world.invoice(flat).total == Decimal("19.99")
    assert world.invoice(yen).total == Decimal("2")  # 1.5 JPY rounds half up to 2
    assert world.invoice(dinar).total == Decimal("0.002")  # 0.0015 KWD -> 0.002
    assert _count(world, LedgerUsageRecord) == 2  # the fixed plan is not metered


def test_revenue_is_the_sum_of_the_invoices(world: World) -> None:
    world.policy("Pro", price="0.0004")
    world.policy("Plus", price="0.001")
    api = world.api(policies=["Pro", "Plus"])
    world.monetize(api)
    gold = world.subscribe(world.app(), api, tier="Pro")
    silver = world.subscribe(world.app(), api, tier="Plus")
    world.calls(gold, 2500)
    world.calls(silver, 333)
    world.publish()
    with world.tx() as session:
        row = session.get(Api, api)
        assert row is not None
        revenue = invoices.api_revenue(world.svc, session, row)
    assert revenue == {gold: "1.00", silver: "0.33", "total": "1.33", "currency": "USD"}


def test_period_end_finalizes_a_numbered_invoice_and_revenue_keeps_it(world: World) -> None:
    world.policy("Pro", price="0.01", cycle="day")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.backdate(sub, timedelta(days=1, hours=1))  # the first day ended an hour ago
    (row,) = world.mon_rows(sub)
    world.calls(sub, 4, at=row.started_at + timedelta(hours=2))  # day 1
    world.calls(sub, 6)  # day 2 (now)

    # Not published yet: the ended period is not finalized.
    assert run_maintenance(world.svc, world.runtime.session_factory).invoices_finalized == 0
    world.publish()
    result = run_maintenance(world.svc, world.runtime.session_factory)
    assert result.invoices_finalized == 1
    with world.tx() as session:
        from tollway.models import Invoice

        (stored,) = session.scalars(select(Invoice)).all()
        assert stored.number == f"TW-{utcnow().year}-000001"
        assert stored.total == Decimal("0.04") and stored.status == "open"
        assert stored.period_start == row.started_at
        assert [(line.quantity, line.amount) for line in stored.lines] == [(4, Decimal("0.04"))]
        api_row = session.get(Api, api)
        assert api_row is not None
        assert invoices.api_revenue(world.svc, session, api_row)["total"] == "0.10"
    assert world.invoice(sub).total == Decimal("0.06")  # the open period: today's calls
    assert run_maintenance(world.svc, world.runtime.session_factory).invoices_finalized == 0


def test_deleting_a_subscription_bills_its_unbilled_usage(world: World) -> None:
    world.policy("Pro", price="0.01")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.calls(sub, 5)
    world.publish()
    world.calls(sub, 3)  # not published when the subscription goes
    world.unsubscribe(sub)
    (row,) = world.mon_rows(sub)
    assert row.status == "canceling" and row.canceled_at is not None

    later = utcnow() + timedelta(seconds=10)  # after the usage has settled
    result = run_maintenance(world.svc, world.runtime.session_factory, now=later)
    assert (result.subscriptions_ended, result.invoices_finalized) == (1, 1)
    (row,) = world.mon_rows(sub)
    assert row.status == "ended"
    with world.tx() as session:
        from tollway.models import Invoice

        (final,) = session.scalars(select(Invoice)).all()
        assert final.total == Decimal("0.08") and final.period_end == row.canceled_at
        assert final.subscription_id == sub
        api_row = session.get(Api, api)
        assert api_row is not None
        assert invoices.api_revenue(world.svc, session, api_row) == {
            sub: "0.08",
            "total": "0.08",
            "currency": "USD",
        }


def test_disabling_monetization_ends_subscriptions_at_period_end(world: World) -> None:
    world.policy("Pro", price="0.01", cycle="week")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.monetize(api, enabled=False)
    (row,) = world.mon_rows(sub)
    assert row.status == "canceled"  # the engine was told after commit
    assert row.canceled_at == row.started_at + timedelta(weeks=1)
    with world.tx() as session:
        assert session.scalar(select(func.count()).select_from(MonApiTierPlan)) == 0
        ledger = session.get(LedgerSubscription, row.engine_subscription_id)
        assert ledger is not None and ledger.canceled_at == row.canceled_at
        assert not any(
            plan.active
            for plan in session.scalars(select(LedgerPlan).where(LedgerPlan.product_id.like("lprod_api_%")))
        )
    # Still metered until the period ends; new subscriptions are not monetized.
    world.calls(sub, 2)
    world.publish()
    assert world.invoice(sub).total == Decimal("0.02")
    assert world.mon_rows(world.subscribe(world.app(), api)) == []

    # Enabling again within the period takes the end back: the subscription bills on, once.
    late = world.subscribe(world.app(), api)  # made while monetization was off
    world.monetize(api)
    (row,) = world.mon_rows(sub)
    assert row.status == "active" and row.canceled_at is None
    with world.tx() as session:
        ledger = session.get(LedgerSubscription, row.engine_subscription_id)
        assert ledger is not None and (ledger.status, ledger.canceled_at) == ("active", None)
    (fresh,) = world.mon_rows(late)  # billed from now on
    assert fresh.status == "active" and fresh.started_at > row.started_at


def test_enabling_again_within_the_period_charges_the_fixed_fee_once(world: World) -> None:
    world.policy("Flat", plan="FixedRate", price=None, fixed="10.00", cycle="month")
    api = world.api(policies=["Flat"])
    world.monetize(api)
    sub = world.subscribe(world.app(), api, tier="Flat")
    world.monetize(api, enabled=False)
    world.monetize(api)
    (row,) = world.mon_rows(sub)
    assert (row.status, row.canceled_at) == ("active", None)
    world.publish()
    assert world.invoice(sub).total == Decimal("10.00")
    # Nothing ends or is invoiced besides: the old behaviour ended the subscription here and billed
    # a second 10.00 for the rest of the month.
    result = run_maintenance(world.svc, world.runtime.session_factory, now=utcnow() + timedelta(seconds=10))
    assert (result.subscriptions_ended, result.invoices_finalized) == (0, 0)
    assert _count(world, MonSubscription) == 1 and _count(world, LedgerSubscription) == 1


def test_a_period_that_ended_while_monetization_was_off_is_not_billed(world: World) -> None:
    world.policy("Daily", plan="FixedRate", price=None, fixed="10.00", cycle="day")
    api = world.api(policies=["Daily"])
    world.monetize(api)
    sub = world.subscribe(world.app(), api, tier="Daily")
    world.monetize(api, enabled=False)
    world.backdate(sub, timedelta(days=3))  # its paid day ended two days ago; monetization still off
    world.monetize(api)
    (old, new) = world.mon_rows(sub)
    assert old.canceled_at == old.started_at + timedelta(days=1)
    assert new.status == "active" and utcnow() - new.started_at < timedelta(minutes=1)  # starts now

    run_maintenance(world.svc, world.runtime.session_factory, now=utcnow() + timedelta(seconds=10))
    with world.tx() as session:
        from tollway.models import Invoice

        (ended,) = session.scalars(select(Invoice).where(Invoice.subscription_id == sub)).all()
        assert (ended.total, ended.period_end) == (Decimal("10.00"), old.canceled_at)
    # The two days in between cost nothing; the day that starts now costs its fee.
    assert world.invoice(sub).total == Decimal("10.00")


def test_deleting_an_api_ends_its_subscriptions_and_retires_its_plans(world: World) -> None:
    world.policy("Pro", price="0.01")
    api = world.api()
    world.monetize(api)
    subs = [world.subscribe(world.app(), api) for _ in range(2)]
    for sub in subs:
        world.calls(sub, 2)
    world.publish()
    with world.tx() as session:
        row = session.get(Api, api)
        assert row is not None
        world.runtime.hooks.api_deleting(session, row)
        session.delete(row)
    with world.tx() as session:
        assert session.scalar(select(func.count()).select_from(MonApiTierPlan)) == 0
        tier_plans = session.scalars(
            select(LedgerPlan).where(LedgerPlan.product_id == f"lprod_api_{api}")
        ).all()
        assert tier_plans and not any(plan.active for plan in tier_plans)
    result = run_maintenance(world.svc, world.runtime.session_factory, now=utcnow() + timedelta(seconds=10))
    assert (result.subscriptions_ended, result.invoices_finalized) == (2, 2)
    assert {row.status for sub in subs for row in world.mon_rows(sub)} == {"ended"}


def test_deleting_or_freeing_a_plan_retires_its_engine_plan(world: World) -> None:
    pro = world.policy("Pro")
    with world.tx() as session:
        mapping = session.get(MonPolicyPlan, pro)
        assert mapping is not None
        plan_id = mapping.engine_plan_id
    world.edit_policy(pro, billing_plan="FREE", monetization_plan=None, price_per_request=None)
    with world.tx() as session:
        assert session.get(MonPolicyPlan, pro) is None
        retired = session.get(LedgerPlan, plan_id)
        assert retired is not None and not retired.active
    plus = world.policy("Plus")
    with world.tx() as session:
        policy = session.get(SubscriptionPolicy, plus)
        assert policy is not None
        world.runtime.hooks.policy_deleting(session, policy)
        session.delete(policy)
    with world.tx() as session:
        assert not any(plan.active for plan in session.scalars(select(LedgerPlan)))
