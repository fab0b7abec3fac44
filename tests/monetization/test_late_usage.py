"""Late usage: calls that reach the database after their window was published (ledger engine).

A gateway that crashed replays its spool later; calls whose time is within
``[monetization] late_usage_window`` before the watermark are billed by the next run, once, in
the billing period of their own time, and invoices wait for them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from tests.monetization.world import World
from tollway.db.base import utcnow
from tollway.invoicing.maintenance import run_maintenance
from tollway.models import Invoice, UsagePublishRecord


def _subscription(
    world: World, *, late: int = 3600, cycle: str = "month", price: str = "0.01", age: timedelta
) -> str:
    world.set_late_window(late)
    world.policy("Pro", price=price, cycle=cycle)
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.backdate(sub, age)
    return sub


def _watermark(world: World, sub: str) -> datetime:
    (row,) = world.mon_rows(sub)
    assert row.usage_published_until is not None
    return row.usage_published_until


def _records(world: World) -> list[UsagePublishRecord]:
    with world.tx() as session:
        return list(session.scalars(select(UsagePublishRecord).order_by(UsagePublishRecord.window_start)))


def test_late_usage_inside_the_window_is_billed_once_by_the_next_run(world: World) -> None:
    sub = _subscription(world, price="0.0004", age=timedelta(hours=3))
    world.calls(sub, 2000, at=utcnow() - timedelta(minutes=90))
    first = world.publish()
    assert (first.calls, first.late_calls, first.failed) == (2000, 0, 0)
    watermark = _watermark(world, sub)

    # A gateway replays its spool: calls made before the watermark reach the database now.
    world.calls(sub, 300, at=watermark - timedelta(minutes=50))
    world.calls(sub, 150, at=watermark - timedelta(seconds=1))
    world.calls(sub, 40, at=watermark - timedelta(minutes=10), billable=False)  # recorded, not billed
    second = world.publish()
    assert (second.calls, second.late_calls, second.failed) == (450, 450, 0)
    assert world.publish().calls == 0  # nothing new: counted once

    # More of the same spool, in a span that already got a late record: only the difference.
    world.calls(sub, 50, at=watermark - timedelta(minutes=50))
    assert world.publish().late_calls == 50
    assert world.publish().calls == 0

    records = _records(world)
    late = [r for r in records if r.idempotency_key.startswith("late:")]
    # Late records bill the past: they start before the first watermark and end by the current one.
    # (The last one's cell runs up to the watermark of its run when no whole hour lies between
    # the late calls and it, i.e. when this test starts in the last 10 minutes of an hour.)
    now_published = _watermark(world, sub)
    assert late and all(r.state == "sent" for r in late)
    assert all(r.window_start < watermark and r.window_end <= now_published for r in late)
    assert len({r.idempotency_key for r in records}) == len(records)
    assert sum(r.quantity for r in late) == 500 and sum(r.quantity for r in records) == 2500
    invoice = world.invoice(sub)
    assert invoice.extra["Billable Requests"] == "2500"
    assert invoice.total == Decimal("1.00")  # 2500 x 0.0004 USD, exactly


def test_usage_later_than_the_window_is_not_billed(world: World) -> None:
    sub = _subscription(world, late=600, age=timedelta(hours=5))
    world.calls(sub, 1, at=utcnow() - timedelta(hours=4))
    world.publish()
    watermark = _watermark(world, sub)
    # Ten minutes of window (counted from the whole hour it starts in): two hours is too late.
    world.calls(sub, 7, at=watermark - timedelta(hours=2))
    result = world.publish()
    assert (result.calls, result.late_calls) == (0, 0)
    assert world.invoice(sub).total == Decimal("0.01")


def test_late_usage_of_an_ended_period_lands_in_its_invoice_which_waits_for_it(world: World) -> None:
    sub = _subscription(world, cycle="day", age=timedelta(days=1, minutes=30))  # day 1 ended 30 min ago
    (row,) = world.mon_rows(sub)
    day1_end = row.started_at + timedelta(days=1)
    world.calls(sub, 4, at=day1_end - timedelta(minutes=10))
    world.calls(sub, 6)  # day 2
    world.publish()
    factory = world.runtime.session_factory
    # Published past the end, but not past the end + the late-usage window (an hour).
    assert run_maintenance(world.svc, factory).invoices_finalized == 0

    world.calls(sub, 2, at=day1_end - timedelta(minutes=5))  # late, in day 1
    assert world.publish().late_calls == 2
    (late,) = [r for r in _records(world) if r.idempotency_key.startswith("late:")]
    assert row.started_at <= late.window_start < late.window_end <= day1_end

    later = utcnow() + timedelta(minutes=31)
    assert run_maintenance(world.svc, factory, now=later).invoices_finalized == 0  # not published that far
    world.publish(now=later)
    assert run_maintenance(world.svc, factory, now=later).invoices_finalized == 1
    with world.tx() as session:
        (stored,) = session.scalars(select(Invoice)).all()
        assert (stored.period_start, stored.period_end) == (row.started_at, day1_end)
        assert [(line.quantity, line.amount) for line in stored.lines] == [(6, Decimal("0.06"))]
        assert stored.total == Decimal("0.06") and stored.number
    assert world.invoice(sub).total == Decimal("0.06")  # day 2: its own 6 calls only


def test_a_cancelled_subscription_gets_late_usage_in_its_final_invoice(world: World) -> None:
    sub = _subscription(world, age=timedelta(hours=2))
    world.calls(sub, 3, at=utcnow() - timedelta(hours=1))
    world.unsubscribe(sub)
    factory = world.runtime.session_factory
    result = run_maintenance(world.svc, factory, now=utcnow() + timedelta(seconds=10))
    assert (result.subscriptions_ended, result.invoices_finalized) == (1, 0)  # waits for late usage
    (row,) = world.mon_rows(sub)
    assert row.status == "canceled" and row.canceled_at is not None

    world.calls(sub, 2, at=row.canceled_at - timedelta(seconds=1))  # before the end, arriving late
    world.calls(sub, 9, at=row.canceled_at + timedelta(seconds=1))  # after the end: free
    past_window = row.canceled_at + timedelta(hours=1, seconds=3)
    assert run_maintenance(world.svc, factory, now=past_window).invoices_finalized == 1
    (ended,) = world.mon_rows(sub)
    assert ended.status == "ended"
    with world.tx() as session:
        (final,) = session.scalars(select(Invoice)).all()
        assert final.total == Decimal("0.05") and final.period_end == row.canceled_at
    assert world.publish(now=past_window + timedelta(hours=1)).subscriptions == 0  # done with it


def test_records_made_without_the_window_are_never_billed_twice(world: World) -> None:
    # Published with late_usage_window = 0 up to two hours ago: one record, not cut at the hours.
    sub = _subscription(world, late=0, age=timedelta(hours=5))
    world.calls(sub, 5, at=utcnow() - timedelta(hours=4))
    world.calls(sub, 5, at=utcnow() - timedelta(hours=3))
    assert world.publish(now=utcnow() - timedelta(hours=2)).records == 1
    old_watermark = _watermark(world, sub)

    world.set_late_window(3600)
    world.calls(sub, 2, at=old_watermark - timedelta(minutes=20))  # inside that record: too late
    world.calls(sub, 4, at=utcnow() - timedelta(minutes=30))
    assert (world.publish().calls, _watermark(world, sub) > old_watermark) == (4, True)
    watermark = _watermark(world, sub)
    world.calls(sub, 1, at=watermark - timedelta(milliseconds=1))
    world.calls(sub, 3, at=watermark - timedelta(minutes=45))
    assert world.publish().late_calls == 4
    assert world.publish().calls == 0
    assert world.invoice(sub).total == Decimal("0.18")  # 5 + 5 + 4 + 1 + 3; the 2 came too late
