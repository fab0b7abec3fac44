"""Property: however a period's usage is split into publish batches (and retried), the ledger's
invoice is the pure price of the period's total."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.monetization.world import World
from tollway.billing.contract import UsageRecord
from tollway.models import SubscriptionPolicy
from tollway.policies.pricing import pricing_plan_of
from tollway.pricing.periods import period_at
from tollway.pricing.prices import PricingPlan, price_period

TIERS = [(1000, "0.001"), (10**6, "0.0005"), (None, "0.00001")]
_APIS: dict[int, tuple[str, PricingPlan]] = {}


def _tiered_api(world: World) -> tuple[str, PricingPlan]:
    """A monetized API with a graduated plan, made once per test (hypothesis reuses the fixture)."""
    key = id(world)
    if key not in _APIS:
        world.policy("Tiered", price=None, tiers=TIERS, tier_mode="graduated")
        api = world.api(policies=["Tiered"])
        world.monetize(api)
        with world.tx() as session:
            policy = session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Tiered"))
            assert policy is not None
            pricing = pricing_plan_of(policy)
            assert pricing is not None
        _APIS[key] = (api, pricing)
    return _APIS[key]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=12),
    retried=st.sets(st.integers(min_value=0, max_value=11)),
    data=st.data(),
)
def test_batches_and_retries_never_change_the_invoice(
    world: World, batches: list[int], retried: set[int], data: st.DataObject
) -> None:
    api, pricing = _tiered_api(world)
    sub = world.subscribe(world.app(), api, tier="Tiered")
    (row,) = world.mon_rows(sub)
    period = period_at(row.started_at, row.billing_cycle, row.started_at)
    step = (period.end - period.start) / (len(batches) + 1)
    records = [
        UsageRecord(f"usage:{uuid.uuid4()}", quantity, period.start + step * n, period.start + step * (n + 1))
        for n, quantity in enumerate(batches)
    ]
    resent = [records[n] for n in sorted(retried) if n < len(records)]
    order = data.draw(st.permutations(records + resent))
    with world.tx() as session:
        call = world.svc.call(session, world.tenant_id, "prop")
        ref = world.svc.ref(session, row)
        for record in order:
            world.svc.engine.publish_usage(call, ref, [record])
            if data.draw(st.booleans()):
                session.flush()  # some retries arrive after the first copy is stored
        invoice = world.svc.engine.period_invoice(call, ref, period)
    expected = price_period(pricing, sum(batches))
    assert invoice is not None
    assert invoice.lines == expected.lines and invoice.total == expected.total
