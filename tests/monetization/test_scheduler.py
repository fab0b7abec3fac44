"""The background scheduler of `tollway serve`: ended subscriptions are invoiced soon after."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from tests.monetization.world import World
from tollway.db.base import utcnow
from tollway.models import Invoice
from tollway.scheduler import run_scheduler


def test_a_deleted_subscription_gets_its_final_invoice_within_seconds(world: World) -> None:
    # The final invoice waits late_usage_window after the end: a small one here, and maintenance
    # every second, so a late call still makes it in.
    world.set_late_window(5, finalize_interval=1)
    world.policy("Pro", price="0.01")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.backdate(sub, timedelta(minutes=10))
    world.calls(sub, 3, at=utcnow() - timedelta(minutes=1))  # never published before the deletion

    async def scenario() -> str:
        scheduler = asyncio.create_task(run_scheduler(world.runtime))
        await asyncio.sleep(0.2)  # running, waiting for work
        try:
            await asyncio.to_thread(world.unsubscribe, sub)
            for _ in range(100):  # usage published up to the end, the engine told
                (row,) = await asyncio.to_thread(world.mon_rows, sub)
                if row.status == "canceled":
                    break
                await asyncio.sleep(0.1)
            assert row.status == "canceled" and row.canceled_at is not None
            # A call made just before the deletion whose usage reaches the database only now.
            await asyncio.to_thread(world.calls, sub, 2, at=row.canceled_at - timedelta(milliseconds=1))
            for _ in range(150):
                (row,) = await asyncio.to_thread(world.mon_rows, sub)
                if row.status == "ended":
                    break
                await asyncio.sleep(0.1)
            return row.status
        finally:
            scheduler.cancel()
            await asyncio.gather(scheduler, return_exceptions=True)

    assert asyncio.run(scenario()) == "ended"
    with world.tx() as session:
        (final,) = session.scalars(select(Invoice)).all()
        assert final.total == Decimal("0.05") and final.subscription_id == sub and final.number


def test_usage_is_published_on_schedule(world: World) -> None:
    monetization = world.runtime.settings.monetization.model_copy(update={"publish_interval": 1})
    world.runtime.settings = world.runtime.settings.model_copy(update={"monetization": monetization})
    world.policy("Pro", price="0.01")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.backdate(sub, timedelta(minutes=10))
    world.calls(sub, 4, at=utcnow() - timedelta(minutes=1))

    async def scenario() -> None:
        scheduler = asyncio.create_task(run_scheduler(world.runtime))
        try:
            for _ in range(100):
                if (await asyncio.to_thread(world.invoice, sub)).total == Decimal("0.04"):
                    return
                await asyncio.sleep(0.1)
        finally:
            scheduler.cancel()
            await asyncio.gather(scheduler, return_exceptions=True)

    asyncio.run(scenario())
    assert world.invoice(sub).total == Decimal("0.04")
    with world.tx() as session:
        from tollway.models import UsagePublishJob

        assert {job.trigger for job in session.scalars(select(UsagePublishJob))} == {"schedule"}
