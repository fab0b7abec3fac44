"""Usage as meter events, invoices from Stripe (preview and per period), revenue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.billing.stripe.conftest import StripeSetup, clear_faults
from tests.monetization.world import World
from tollway.billing.contract import EngineCall, SubscriptionRef, UsageRecord
from tollway.billing.stripe.clients import meter_events_base
from tollway.config import StripeSettings
from tollway.invoicing import invoices
from tollway.models import Api, UsagePublishRecord
from tollway.pricing.periods import Period, period_at
from tollway.pricing.prices import PriceTier, PricingPlan, price_period


def _setup(world: World, stripe: StripeSetup, **policy: Any) -> tuple[str, str]:
    world.policy("Pro", **policy)
    api = world.api()
    world.monetize(api, {"ConnectedAccountKey": stripe.seller})
    return api, world.subscribe(world.app(), api)


class Direct:
    """The engine called directly for one subscription, as Tollway's jobs call it."""

    def __init__(self, world: World, stripe: StripeSetup, subscription_id: str) -> None:
        self.world, self.engine = world, stripe.engine
        (self.row,) = world.mon_rows(subscription_id)
        with world.tx() as session:
            self.ref: SubscriptionRef = world.svc.ref(session, self.row)

    @contextmanager
    def call(self) -> Iterator[EngineCall]:
        with self.world.tx() as session:
            yield self.world.svc.call(session, self.world.tenant_id, "test")

    def publish(self, *records: UsageRecord) -> None:
        with self.call() as call:
            self.engine.publish_usage(call, self.ref, records)

    def preview(self) -> Any:
        with self.call() as call:
            return self.engine.preview_invoice(call, self.ref, self.ref.started_at + timedelta(minutes=1))

    def period(self, index: int) -> Any:
        with self.call() as call:
            anchor, cycle = self.ref.started_at, self.ref.billing_cycle
            period = period_at(anchor, cycle, anchor)
            for _ in range(index):
                period = period_at(anchor, cycle, period.end)
            return self.engine.period_invoice(call, self.ref, Period(period.index, period.start, period.end))


def _record(
    ref: SubscriptionRef, key: str, quantity: int, start: timedelta, length: timedelta
) -> UsageRecord:
    begin = ref.started_at + start
    return UsageRecord(f"usage:{key}", quantity, begin, begin + length)


def test_usage_is_published_as_meter_events_named_by_their_keys(world: World, stripe: StripeSetup) -> None:
    _, sub = _setup(world, stripe, price="0.0004")
    world.calls(sub, 2500)
    stripe.fake.clear_requests()
    result = world.publish()
    assert (result.failed, result.calls) == (0, 2500)
    with world.tx() as session:
        (record,) = session.scalars(select(UsagePublishRecord)).all()
        key = record.idempotency_key
    (event,) = [r for r in stripe.fake.requests if r.path == "/v1/billing/meter_events"]
    assert event.account == stripe.seller and event.params["identifier"] == key
    assert event.params["payload"]["value"] == "2500"

    direct = Direct(world, stripe, sub)
    assert direct.preview().total == Decimal("1.00")  # 2500 x 0.0004 USD, exactly
    # The same record again (a retry after a lost answer): Stripe counts it once.
    direct.publish(UsageRecord(key, 2500, record.window_start, record.window_end))
    assert direct.preview().total == Decimal("1.00")
    assert world.publish().calls == 0  # nothing new


def test_rate_limits_and_outages_are_retried_within_the_budget(world: World, stripe: StripeSetup) -> None:
    _, sub = _setup(world, stripe, price="0.0004")
    world.calls(sub, 100)
    stripe.fake.fail_next(1, status=429, path_prefix="/v1/billing/meter_events")
    stripe.fake.fail_next(1, status=503, path_prefix="/v1/billing/meter_events")
    stripe.fake.clear_requests()
    assert world.publish().failed == 0
    attempts = [r for r in stripe.fake.requests if r.path == "/v1/billing/meter_events"]
    assert [r.status for r in attempts] == [429, 503, 200]
    assert len({r.params["identifier"] for r in attempts}) == 1  # the same event each time

    # Stripe down for longer than the budget ([monetization.stripe] max_retry_seconds = 3):
    # the run gives up in bounded time, keeps the usage pending, and the next run sends it.
    world.calls(sub, 50)
    stripe.fake.fail_next(1000, status=503, path_prefix="/v1/billing/meter_events")
    began = time.monotonic()
    result = world.publish()
    elapsed = time.monotonic() - began
    assert result.failed == 1 and elapsed < 3 * 2 + 2, elapsed  # one try per subscription, then one by one
    clear_faults(stripe.fake)
    assert world.publish().calls == 50
    assert Direct(world, stripe, sub).preview().total == Decimal("0.06")


def test_stripe_should_retry_false_is_not_retried(world: World, stripe: StripeSetup) -> None:
    _, sub = _setup(world, stripe, price="0.0004")
    world.calls(sub, 10)
    stripe.fake.fail_next(1, status=500, path_prefix="/v1/billing/meter_events", should_retry=False)
    stripe.fake.fail_next(1, status=500, path_prefix="/v1/billing/meter_events", should_retry=False)
    stripe.fake.clear_requests()
    assert world.publish().failed == 1
    assert len([r for r in stripe.fake.requests if r.path == "/v1/billing/meter_events"]) == 2  # batch, alone
    assert world.publish().calls == 10


def test_several_records_go_in_one_stream_request_and_count_once(world: World, stripe: StripeSetup) -> None:
    _, sub = _setup(world, stripe, price="0.01")
    direct = Direct(world, stripe, sub)
    hour = timedelta(hours=1)
    records = [_record(direct.ref, f"k{i}", 10 * (i + 1), i * hour, hour) for i in range(3)]
    stripe.fake.advance_time(3 * 3600)  # the windows are over by Stripe's clock too
    stripe.fake.clear_requests()
    direct.publish(*records)
    streamed = [r for r in stripe.fake.requests if r.path == "/v2/billing/meter_event_stream"]
    assert len(streamed) == 1 and [e["identifier"] for e in streamed[0].params["events"]] == [
        "usage:k0",
        "usage:k1",
        "usage:k2",
    ]
    direct.publish(*records)  # again: dropped as duplicates
    assert stripe.fake.meter_event_errors(stripe.seller) == []
    assert direct.preview().total == Decimal("0.60")


PLANS = {
    "per request": (PricingPlan("DynamicRate", "USD", "month", price_per_request=Decimal("0.0004")), 2500),
    "included": (
        PricingPlan(
            "DynamicRate", "USD", "month", price_per_request=Decimal("0.003"), included_requests=1000
        ),
        2345,
    ),
    "graduated": (
        PricingPlan(
            "DynamicRate",
            "USD",
            "month",
            included_requests=50,
            tiers=(
                PriceTier(100, Decimal("0.01"), Decimal("0.5")),
                PriceTier(1000, Decimal("0.005")),
                PriceTier(None, Decimal("0.00125")),
            ),
        ),
        1777,
    ),
    "volume": (
        PricingPlan(
            "DynamicRate",
            "USD",
            "month",
            tiers=(PriceTier(1000, Decimal("0.002")), PriceTier(None, Decimal("0.0015"), Decimal("1"))),
            tier_mode="volume",
        ),
        1333,
    ),
    "yen": (PricingPlan("DynamicRate", "JPY", "month", price_per_request=Decimal("0.35")), 999),
    "euro": (PricingPlan("DynamicRate", "EUR", "month", price_per_request=Decimal("0.0001234")), 777),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_the_invoice_is_exactly_what_tollway_prices(world: World, stripe: StripeSetup, name: str) -> None:
    pricing, calls = PLANS[name]
    policy = {
        "price": None if pricing.price_per_request is None else str(pricing.price_per_request),
        "currency": pricing.currency,
        "included": pricing.included_requests,
        "tiers": [(t.up_to, str(t.unit_price)) for t in pricing.tiers],
        "tier_mode": pricing.tier_mode if pricing.tiers else None,
    }
    world.policy("Pro", **policy)
    if any(t.flat_amount for t in pricing.tiers):  # the World's helper has no flat amounts: set them
        from tollway.models import PolicyPriceTier

        with world.tx() as session:
            for row in session.scalars(select(PolicyPriceTier)):
                row.flat_amount = pricing.tiers[row.position].flat_amount
        world.edit_policy(_policy_id(world), description="flat fees")
    api = world.api()
    world.monetize(api, {"ConnectedAccountKey": stripe.seller})
    sub = world.subscribe(world.app(), api)
    world.calls(sub, calls)
    world.publish()
    invoice = Direct(world, stripe, sub).preview()
    expected = price_period(pricing, calls)
    assert (invoice.currency, invoice.total, invoice.subtotal) == (
        expected.currency,
        expected.total,
        expected.subtotal,
    )
    assert sum(line.amount for line in invoice.lines) == expected.total
    assert invoice.extra["Billable Requests"] == str(calls)


def _policy_id(world: World) -> str:
    from tollway.models import SubscriptionPolicy

    with world.tx() as session:
        policy = session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Pro"))
        assert policy is not None
        return policy.id


def test_a_period_is_invoiced_once_stripe_finalizes_it_and_usage_lands_in_its_own_period(
    world: World, stripe: StripeSetup
) -> None:
    _, sub = _setup(world, stripe, price="0.01", cycle="day")
    direct = Direct(world, stripe, sub)
    day, hour = timedelta(days=1), timedelta(hours=1)
    stripe.fake.advance_time(int(day.total_seconds()) + 1800)  # Stripe's period 0 ended 30 min ago
    direct.publish(
        _record(direct.ref, "a", 100, 2 * hour, hour),
        _record(direct.ref, "b", 50, day - hour, hour),  # ends exactly at the end of period 0
        _record(direct.ref, "c", 7, day, timedelta(minutes=20)),  # the start of period 1
    )
    assert stripe.fake.meter_event_errors(stripe.seller) == []
    assert direct.period(0) is None  # Stripe's invoice is still a draft (late usage may come)
    stripe.fake.advance_time(3600)
    first = direct.period(0)
    assert first is not None and first.total == Decimal("1.50") and first.status == "open"
    assert (first.period_start, first.period_end) == (direct.ref.started_at, direct.ref.started_at + day)
    assert first.extra["Billable Requests"] == "150" and first.extra["Hosted Invoice URL"].startswith(
        "https://"
    )
    assert direct.period(1) is None  # not ended yet
    assert direct.preview().total == Decimal("0.07")


def test_a_fixed_fee_is_billed_in_advance_and_shown_as_the_period_invoice(
    world: World, stripe: StripeSetup
) -> None:
    _, sub = _setup(world, stripe, plan="FixedRate", price=None, fixed="25", cycle="day")
    direct = Direct(world, stripe, sub)
    current = direct.preview()
    assert (current.total, current.status) == (Decimal("25.00"), "open")  # sent, awaiting payment
    assert direct.period(0).id == current.id
    stripe.fake.advance_time(86400 + 3700)
    second = direct.period(1)
    assert second is not None and second.total == Decimal("25.00") and second.id != current.id


def test_revenue_is_the_sum_over_the_apis_subscriptions(world: World, stripe: StripeSetup) -> None:
    api, first = _setup(world, stripe, price="0.0004")
    second = world.subscribe(world.app(), api)
    world.calls(first, 2500)
    world.calls(second, 1000)
    world.publish()
    with world.tx() as session:
        row = session.get(Api, api)
        assert row is not None
        revenue = invoices.api_revenue(world.svc, session, row)
    assert revenue == {first: "1.00", second: "0.40", "total": "1.40", "currency": "USD"}


def test_each_tenant_bills_through_its_own_platform_account(world: World, stripe: StripeSetup) -> None:
    import stripe as sdk

    from tests.billing.stripe.conftest import PLATFORM_KEY, set_monetization_info
    from tollway.models import SubscriptionPolicy

    other_key, rotated_key = "sk_test_other_tenant_1", "sk_test_other_tenant_2"
    other_platform = stripe.fake.add_platform_account(other_key)
    rotated_platform = stripe.fake.add_platform_account(rotated_key)
    other_tenant = World.__new__(World)  # only its tenant id is needed
    from tests.support.identity import OrmIdentity

    other_tenant.tenant_id = OrmIdentity(world.runtime).tenant("other.example")
    set_monetization_info(
        world.runtime, {"BillingEnginePlatformAccountKey": other_key}, domain="other.example"
    )

    def plan(tenant_id: str, name: str) -> None:
        with world.tx() as session:
            policy = SubscriptionPolicy(
                tenant_id=tenant_id,
                name=name,
                billing_plan="COMMERCIAL",
                monetization_plan="FixedRate",
                fixed_price=Decimal("5"),
                currency="USD",
                billing_cycle="month",
            )
            session.add(policy)
            session.flush()
            world.runtime.hooks.policy_created(session, policy)

    stripe.fake.clear_requests()
    plan(world.tenant_id, "Mine")
    plan(other_tenant.tenant_id, "Theirs")
    set_monetization_info(
        world.runtime, {"BillingEnginePlatformAccountKey": rotated_key}, domain="other.example"
    )
    plan(other_tenant.tenant_id, "Rotated")

    def names(key: str) -> list[str]:
        return [p["name"] for p in stripe.fake.client(key).v1.products.list()["data"]]

    assert (
        names(PLATFORM_KEY) == ["Mine"]
        and names(other_key) == ["Theirs"]
        and names(rotated_key) == ["Rotated"]
    )
    accounts = {(r.account, r.api_key) for r in stripe.fake.requests}
    assert accounts == {
        (stripe.platform, PLATFORM_KEY),
        (other_platform, other_key),
        (rotated_platform, rotated_key),
    }
    assert sdk.api_key is None  # the SDK's module-global key is never set


def test_the_meter_event_stream_goes_to_stripes_own_host() -> None:
    assert meter_events_base(StripeSettings()) == "https://meter-events.stripe.com"
    proxied = StripeSettings(api_base="http://127.0.0.1:8111/")
    assert meter_events_base(proxied) == "http://127.0.0.1:8111"  # a proxy or the fake serves both
    split = StripeSettings(api_base="http://proxy:1", meter_events_base="http://proxy:2")
    assert meter_events_base(split) == "http://proxy:2"
