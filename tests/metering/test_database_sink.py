"""The database sink stores each event once and keeps the hourly rollups equal to the raw events."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tollway.db.session import transaction
from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent
from tollway.metering.queries import usage_counts
from tollway.models.usage import UsageEventRow, UsageRollup
from tollway.runtime import Runtime

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp()


def event(n: int, at: float, sub: str | None = "sub-a", status: int = 200) -> UsageEvent:
    return UsageEvent(
        id=f"ev-{n}",
        time=at,
        tenant_id="tenant",
        api_id="api" if sub else None,
        application_id="app" if sub else None,
        subscription_id=sub,
        tier="Gold" if sub else None,
        status=status,
        billable=200 <= status < 400,
        latency_us=1500,
        request_bytes=100,
        response_bytes=2000,
    )


def rollups(runtime: Runtime) -> dict[tuple[str, datetime], tuple[int, int]]:
    with runtime.session_factory() as session:
        rows = session.execute(
            select(
                UsageRollup.subscription_id,
                UsageRollup.hour,
                UsageRollup.billable_count,
                UsageRollup.total_count,
            )
        )
        return {(sub, hour): (billable, total) for sub, hour, billable, total in rows}


def raw_count(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(UsageEventRow)) or 0)


def test_a_batch_is_stored_with_its_rollups_and_a_replay_counts_nothing(runtime: Runtime) -> None:
    sink = DatabaseSink(runtime.engine)
    batch = [
        event(1, T0 + 1, status=200),
        event(2, T0 + 2, status=302),
        event(3, T0 + 3, status=500),
        event(4, T0 + 3600 + 5, status=201),  # the next hour
        event(5, T0 + 4, sub="sub-b", status=404),
        event(6, T0 + 6, sub=None, status=401),  # refused credentials: raw only
    ]
    assert sink.write(batch) == 6
    hour = datetime.fromtimestamp(T0, UTC)
    expected = {
        ("sub-a", hour): (2, 3),
        ("sub-a", hour + timedelta(hours=1)): (1, 1),
        ("sub-b", hour): (0, 1),
    }
    assert rollups(runtime) == expected
    assert raw_count(runtime) == 6

    assert sink.write(batch) == 0  # replayed whole
    assert sink.write([*batch[3:], event(7, T0 + 7, status=204)]) == 1  # replayed in part
    expected[("sub-a", hour)] = (3, 4)
    assert rollups(runtime) == expected
    assert raw_count(runtime) == 7


def test_an_id_repeated_inside_one_batch_is_one_event(runtime: Runtime) -> None:
    """A spool replayed into a buffer that still held the same events must not count them twice."""
    sink = DatabaseSink(runtime.engine)
    batch = [
        event(1, T0 + 1),
        event(2, T0 + 2),
        event(1, T0 + 1),
        event(3, T0 + 3, status=500),
        event(2, T0 + 2),
    ]
    assert sink.write(batch) == 3
    assert rollups(runtime) == {("sub-a", datetime.fromtimestamp(T0, UTC)): (2, 3)}
    assert raw_count(runtime) == 3


def test_stored_rows_keep_every_field_and_the_microsecond(runtime: Runtime) -> None:
    sink = DatabaseSink(runtime.engine)
    original = event(1, T0 + 12.345678, status=503)
    sink.write([original])
    with runtime.session_factory() as session:
        row = session.get(UsageEventRow, "ev-1")
        assert row is not None
        assert row.time == datetime.fromtimestamp(T0 + 12.345678, UTC)
        assert (row.tenant_id, row.api_id, row.application_id, row.subscription_id, row.tier) == (
            "tenant",
            "api",
            "app",
            "sub-a",
            "Gold",
        )
        assert (row.status_code, row.billable, row.latency_us) == (503, False, 1500)
        assert (row.request_bytes, row.response_bytes) == (100, 2000)


def test_large_batches_are_split_and_counted_exactly(runtime: Runtime) -> None:
    sink = DatabaseSink(runtime.engine)
    batch = [event(n, T0 + n * 0.5, status=200 if n % 3 else 500) for n in range(2600)]
    assert sink.write(batch) == 2600
    billable = sum(1 for e in batch if e.billable)
    assert sum(b for b, _ in rollups(runtime).values()) == billable
    assert sum(t for _, t in rollups(runtime).values()) == 2600


def test_two_writers_racing_on_the_same_batch_count_it_once(runtime: Runtime) -> None:
    batch = [event(n, T0 + n, status=200) for n in range(300)]
    sinks = [DatabaseSink(runtime.engine), DatabaseSink(runtime.engine)]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def write(sink: DatabaseSink) -> None:
        barrier.wait()
        results.append(sink.write(batch))

    threads = [threading.Thread(target=write, args=(s,)) for s in sinks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(results) == 300  # each id counted by exactly one of the writers
    assert rollups(runtime) == {("sub-a", datetime.fromtimestamp(T0, UTC)): (300, 300)}


def test_usage_counts_are_exact_for_any_window(runtime: Runtime) -> None:
    """Rollups for whole hours plus raw events at the edges equal a count of the raw events."""
    rng = random.Random(7)
    sink = DatabaseSink(runtime.engine)
    batch = []
    for n in range(1500):
        at = T0 + rng.uniform(0, 5 * 3600)
        batch.append(
            event(n, at, sub=rng.choice(["sub-a", "sub-b", "sub-c"]), status=rng.choice([200, 302, 429, 500]))
        )
    sink.write(batch)

    def brute(ids: set[str] | None, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
        counts: dict[str, tuple[int, int]] = {}
        for e in batch:
            at = datetime.fromtimestamp(e.time, UTC)
            if e.subscription_id and (ids is None or e.subscription_id in ids) and start <= at < end:
                old = counts.get(e.subscription_id, (0, 0))
                counts[e.subscription_id] = (old[0] + e.billable, old[1] + 1)
        return counts

    base = datetime.fromtimestamp(T0, UTC)
    windows = [
        (base, base + timedelta(hours=5)),  # hour-aligned
        (base + timedelta(minutes=17), base + timedelta(hours=3, minutes=41)),  # ragged edges
        (base + timedelta(minutes=5), base + timedelta(minutes=50)),  # inside one hour
        (base + timedelta(minutes=50), base + timedelta(hours=1, minutes=10)),  # across one boundary
        (base - timedelta(days=1), base + timedelta(days=1)),
        (base + timedelta(hours=2), base + timedelta(hours=2)),  # empty
    ]
    with transaction(runtime.session_factory) as session:
        for start, end in windows:
            assert usage_counts(session, None, start, end) == brute(None, start, end), (start, end)
            assert usage_counts(session, ["sub-b"], start, end) == brute({"sub-b"}, start, end)
        assert usage_counts(session, [], windows[0][0], windows[0][1]) == {}


def test_two_writers_racing_on_overlapping_batches_count_each_id_once(runtime: Runtime) -> None:
    """Each batch new in part: on PostgreSQL the second COPY meets the first's ids (waiting for its
    commit) and falls back to inserting only the others; every id is counted by one writer."""
    subs = ["sub-a", "sub-b", "sub-c", None]
    first = [event(n, T0 + n, sub=subs[n % 4], status=200 if n % 3 else 500) for n in range(3000)]
    second = [event(n, T0 + n, sub=subs[n % 4], status=200 if n % 3 else 500) for n in range(1500, 4500)]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def write(batch: list[UsageEvent]) -> None:
        barrier.wait()
        for attempt in range(5):
            try:
                results.append(DatabaseSink(runtime.engine).write(batch))
                return
            except Exception:  # a deadlock (meeting in opposite orders; the driver's own error):
                if attempt == 4:  # the whole transaction is undone and the batch is written
                    raise  # again, as the metering writer does
                time.sleep(0.05)

    threads = [threading.Thread(target=write, args=(b,)) for b in (first, reversed_(second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and sum(results) == 4500
    assert raw_count(runtime) == 4500
    everything = {e.id: e for e in [*first, *second]}.values()
    assert sum(t for _, t in rollups(runtime).values()) == sum(1 for e in everything if e.subscription_id)
    assert sum(b for b, _ in rollups(runtime).values()) == sum(
        1 for e in everything if e.subscription_id and e.billable
    )
    assert DatabaseSink(runtime.engine).write(second) == 0


def reversed_(batch: list[UsageEvent]) -> list[UsageEvent]:
    """The same events in the opposite order: the racing inserts meet in different orders."""
    return batch[::-1]


def test_a_batch_without_subscriptions_is_stored_without_rollups(runtime: Runtime) -> None:
    sink = DatabaseSink(runtime.engine)
    assert sink.write([event(n, T0 + n, sub=None, status=401) for n in range(10)]) == 10
    assert rollups(runtime) == {}
    assert raw_count(runtime) == 10
