"""The ledger engine's own rules, called directly through the engine interface."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.monetization.world import World
from tollway.billing.contract import EngineError, EngineRejected, UsageRecord
from tollway.billing.ledger.ledger_engine import LedgerEngine
from tollway.models import LedgerPlan, MonApiTierPlan
from tollway.pricing.periods import Period


def _engine(world: World) -> LedgerEngine:
    engine = world.svc.engine
    assert isinstance(engine, LedgerEngine)
    return engine


def test_usage_is_counted_once_per_key_and_a_reused_key_is_refused(world: World) -> None:
    world.policy("Pro", price="0.01", cycle="day")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    (row,) = world.mon_rows(sub)
    start = row.started_at
    record = UsageRecord("usage:k1", 7, start, start + timedelta(hours=1))
    with world.tx() as session:
        call = world.svc.call(session, world.tenant_id, "t")
        ref = world.svc.ref(session, row)
        engine = _engine(world)
        engine.publish_usage(call, ref, [record])
        engine.publish_usage(call, ref, [record])  # a retry
        with pytest.raises(EngineError, match="other content"):
            engine.publish_usage(
                call, ref, [UsageRecord("usage:k1", 8, record.window_start, record.window_end)]
            )
        # Usage ending exactly at the period's end belongs to that period, not the next.
        end_of_day = start + timedelta(days=1)
        engine.publish_usage(call, ref, [UsageRecord("usage:k2", 3, start + timedelta(hours=23), end_of_day)])
        engine.publish_usage(
            call, ref, [UsageRecord("usage:k3", 5, end_of_day, end_of_day + timedelta(hours=1))]
        )
        first = engine.period_invoice(call, ref, Period(0, start, end_of_day))
        second = engine.period_invoice(call, ref, Period(1, end_of_day, end_of_day + timedelta(days=1)))
        assert first is not None and second is not None
        assert (first.total, second.total) == (Decimal("0.10"), Decimal("0.05"))
        assert first.status == "open" and first.id != second.id
        with pytest.raises(EngineRejected):
            engine.publish_usage(call, ref, [UsageRecord("usage:k4", -1, start, end_of_day)])


def test_a_canceled_subscription_previews_its_cut_last_period(world: World) -> None:
    world.policy("Pro", price="0.01", cycle="month")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    (row,) = world.mon_rows(sub)
    with world.tx() as session:
        call = world.svc.call(session, world.tenant_id, "t")
        ref = world.svc.ref(session, row)
        engine = _engine(world)
        end = row.started_at + timedelta(days=3)
        engine.cancel_subscription(call, ref, end)
        preview = engine.preview_invoice(call, ref, row.started_at + timedelta(days=40))
        assert preview is not None and (preview.period_start, preview.period_end) == (row.started_at, end)
        assert engine.preview_invoice(call, ref, row.started_at - timedelta(seconds=1)) is None


def test_retired_tier_plan_takes_no_new_subscriptions(world: World) -> None:
    world.policy("Pro")
    api = world.api()
    world.monetize(api)
    with world.tx() as session:
        tier = session.scalar(select(MonApiTierPlan))
        assert tier is not None
        plan = session.get(LedgerPlan, tier.engine_plan_id)
        assert plan is not None
        plan.active = False  # retired in the engine behind Tollway's back
    with pytest.raises(Exception, match="throttlingPolicy"):
        world.subscribe(world.app(), api)
