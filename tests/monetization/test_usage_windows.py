"""Batched per-subscription windows count exactly what metering's own query counts, window by window."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tollway.db.session import transaction
from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent
from tollway.metering.queries import usage_counts
from tollway.publishing import windows as usage_windows
from tollway.publishing.windows import billable_counts
from tollway.runtime import Runtime


def test_batched_windows_match_usage_counts(runtime: Runtime) -> None:
    rng = random.Random(20261124)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    subs = [f"sub-{n}" for n in range(400)]
    events = []
    for n in range(12000):
        sub = rng.choice(subs)
        at = base + timedelta(seconds=rng.uniform(0, 6 * 3600))
        events.append(
            UsageEvent(
                f"w{n}", at.timestamp(), "t", "api", "app", sub, "Pro", 200, rng.random() < 0.8, 1, 1, 1
            )
        )
    sink = DatabaseSink(runtime.engine)
    for offset in range(0, len(events), 2000):
        sink.write(events[offset : offset + 2000])

    windows = []
    for _ in range(700):  # more than one query's worth of terms, several windows per subscription
        start = base + timedelta(seconds=rng.uniform(-600, 6 * 3600))
        end = start + timedelta(seconds=rng.choice([0, 1, 59, 3599, 3600, 5000, 7200, 20000]))
        windows.append((rng.choice(subs), start, end))
    with transaction(runtime.session_factory) as session:
        batched = billable_counts(session, windows)
        for (sub, start, end), count in zip(windows, batched, strict=True):
            assert count == usage_counts(session, [sub], start, end).get(sub, (0, 0))[0], (sub, start, end)
    assert sum(batched) > 0
    assert len(windows) > 2 * usage_windows.TERMS
