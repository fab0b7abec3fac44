"""A third-party engine (the documented example) loaded by dotted path runs Tollway's whole flow.

It is not transactional, so these tests also pin down how Tollway keeps an external engine and
its own database consistent: compensation on rollback, and idempotent usage retries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.billing.conftest import memory_engine
from tests.billing.example_engine import InMemoryEngine
from tests.monetization.world import World
from tollway.billing.contract import EngineCall, EngineError, SubscriptionRef, UsageRecord
from tollway.db.base import utcnow
from tollway.errors import BillingEngineError
from tollway.invoicing import invoices
from tollway.models import Api, MonPlatformCustomer, MonSubscription, Subscription, SubscriptionPolicy

ROOT = Path(__file__).resolve().parents[2]


def test_docs_show_the_example_engine_exactly() -> None:
    docs = (ROOT / "docs" / "billing-engines.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", docs, flags=re.DOTALL)
    source = (ROOT / "tests" / "billing" / "example_engine.py").read_text(encoding="utf-8")
    assert source in blocks, "docs/billing-engines.md must show tests/billing/example_engine.py verbatim"


def test_the_example_engine_bills_exactly(memory_world: World) -> None:
    world = memory_world
    world.policy("Pro", price="0.0004")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.calls(sub, 2500)
    world.publish()
    world.publish()
    invoice = world.invoice(sub)
    assert invoice.total == Decimal("1.00")
    engine = memory_engine(world)
    assert sum(n for _, n, _ in engine.book.usage.values()) == 2500
    with world.tx() as session:
        row = session.get(Api, api)
        assert row is not None
        assert invoices.api_revenue(world.svc, session, row) == {
            sub: "1.00",
            "total": "1.00",
            "currency": "USD",
        }


def test_a_rolled_back_subscription_is_undone_in_the_engine(memory_world: World) -> None:
    world = memory_world
    world.policy("Pro")
    api = world.api()
    world.monetize(api)
    app = world.app()
    engine = memory_engine(world)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), world.tx() as session:
        policy = session.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Pro"))
        assert policy is not None
        sub = Subscription(tenant_id=world.tenant_id, application_id=app, api_id=api, policy_id=policy.id)
        session.add(sub)
        session.flush()
        world.runtime.hooks.subscription_created(session, sub)
        assert len(engine.book.subscriptions) == 1 and len(engine.book.customers) == 2
        raise Boom  # e.g. the request failed after the hook

    # Tollway kept nothing, and the engine undid what it had made.
    with world.tx() as session:
        assert session.scalar(select(func.count()).select_from(MonSubscription)) == 0
        assert session.scalar(select(func.count()).select_from(MonPlatformCustomer)) == 0
    (engine_sub,) = engine.book.subscriptions
    assert engine_sub in engine.book.canceled
    assert engine.book.customers == {}

    # A committed subscription is not touched by that machinery.
    committed = world.subscribe(app, api)
    (row,) = world.mon_rows(committed)
    assert row.engine_subscription_id not in engine.book.canceled


def test_an_engine_refusal_is_a_502_and_leaves_nothing(memory_world: World) -> None:
    world = memory_world
    world.policy("Pro")
    api = world.api()
    world.monetize(api)
    engine = memory_engine(world)
    engine.book.retired.update(engine.book.plans)  # the engine lost its plans
    with pytest.raises(BillingEngineError) as failed:
        world.subscribe(world.app(), api)
    assert "retired" in failed.value.description
    with world.tx() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0
        assert session.scalar(select(func.count()).select_from(MonSubscription)) == 0
    assert engine.book.customers == {}  # compensated


class FlakyEngine(InMemoryEngine):
    """Fails for chosen subscriptions; with ``lose_ack`` it records the usage, then fails anyway
    (the engine got it but Tollway never heard back)."""

    failing: set[str]
    lose_ack = False

    def publish_usage(
        self, call: EngineCall, subscription: SubscriptionRef, records: Sequence[UsageRecord]
    ) -> None:
        if subscription.subscription_id in self.failing:
            if self.lose_ack:
                super().publish_usage(call, subscription, records)
            raise EngineError("connection reset")
        super().publish_usage(call, subscription, records)


@pytest.mark.parametrize("lose_ack", [False, True])
def test_a_failing_subscription_neither_blocks_others_nor_double_counts_on_retry(
    memory_world: World, lose_ack: bool
) -> None:
    world = memory_world
    flaky = FlakyEngine(None)  # type: ignore[arg-type]
    flaky.failing, flaky.lose_ack = set(), lose_ack
    world.runtime.billing = flaky
    world.policy("Pro", price="0.01")
    api = world.api()
    world.monetize(api)
    good, bad = world.subscribe(world.app(), api), world.subscribe(world.app(), api)
    world.calls(good, 10)
    world.calls(bad, 20)
    flaky.failing = {bad}

    first = world.publish()
    assert (first.published, first.failed) == (1, 1)
    assert world.invoice(good).total == Decimal("0.10")

    world.calls(bad, 5)  # more usage while it was failing
    flaky.failing = set()
    second = world.publish()
    assert second.failed == 0
    assert world.invoice(bad).total == Decimal("0.25")  # 20 + 5, the 20 counted once
    assert world.invoice(good).total == Decimal("0.10")
    bad_usage = [
        n for sub, n, _ in flaky.book.usage.values() if sub == world.mon_rows(bad)[0].engine_subscription_id
    ]
    assert sum(bad_usage) == 25
    (row,) = world.mon_rows(bad)
    assert row.usage_published_until is not None and row.usage_published_until <= utcnow()
