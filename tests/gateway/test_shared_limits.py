"""Limit counters shared by a gateway's worker processes: one count, whichever worker serves."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.synchronize import Barrier, Event

import pytest

from tests.gateway.test_limits import MINUTE, plan
from tollway.gateway.limits import retry_after
from tollway.gateway.shared_limits import MAX_PROBE, SharedCounterTable, SharedLimiter

START = 1_700_000_040.0  # a minute boundary


def workers(table: SharedCounterTable, count: int = 2) -> list[SharedLimiter]:
    """What each worker process builds from the table the supervisor handed it."""
    return [SharedLimiter(table) for _ in range(count)]


def test_a_quota_holds_exactly_across_workers_and_reopens_with_the_next_window() -> None:
    first, second = workers(SharedCounterTable(1024))
    quota = plan(quota=10)
    admitted = [(first if n % 3 else second).admit("s", quota, START + n) for n in range(10)]
    assert admitted == [0.0] * 10
    for limiter in (first, second):
        wait = limiter.admit("s", quota, START + 30.0)
        assert wait == pytest.approx(30.0)
        assert limiter.quota_refused
    assert second.admit("s", quota, START + MINUTE - 1e-6) > 0
    assert first.admit("s", quota, START + MINUTE) == 0.0  # one worker opens the window...
    assert [second.admit("s", quota, START + MINUTE + 1) for _ in range(9)] == [0.0] * 9
    assert first.admit("s", quota, START + MINUTE + 2) > 0  # ...and the other sees it


def test_a_burst_rate_holds_exactly_across_workers() -> None:
    limiters = workers(SharedCounterTable(1024), 3)
    rate = plan(burst=5)
    results = [limiters[n % 3].admit("s", rate, START + 0.1 + n * 0.01) for n in range(8)]
    assert results[:5] == [0.0] * 5
    assert all(wait > 0 for wait in results[5:])
    assert retry_after(results[5]) == 1 and not limiters[2].quota_refused
    assert limiters[1].admit("s", rate, START + 1.0) == 0.0
    assert limiters[0].admit("other", rate, START + 0.5) == 0.0  # counters are per subscription


def test_bandwidth_used_through_one_worker_counts_in_the_other() -> None:
    first, second = workers(SharedCounterTable(1024))
    bandwidth = plan(quota_bytes=1000)
    assert first.admit("s", bandwidth, START) == 0.0
    first.add_bytes("s", 600)
    assert second.admit("s", bandwidth, START + 1) == 0.0
    second.add_bytes("s", 400)
    assert first.admit("s", bandwidth, START + 2) > 0
    assert second.admit("s", bandwidth, START + MINUTE) == 0.0


def test_metered_plans_still_go_over_their_quota() -> None:
    first, second = workers(SharedCounterTable(1024))
    metered = plan(quota=2, stop=False)
    assert all((first, second)[n % 2].admit("s", metered, START + n) == 0.0 for n in range(6))


def test_a_slot_whose_windows_ended_is_reused_and_its_old_owner_starts_afresh() -> None:
    """A table of MAX_PROBE slots: every subscription probes all of them."""
    first, second = workers(SharedCounterTable(MAX_PROBE))
    quota = plan(quota=1)
    for n in range(MAX_PROBE):
        assert first.admit(f"s{n}", quota, START) == 0.0
    # Full, every window live: a newcomer is counted by each worker alone (and a warning says so).
    assert first.admit("late", quota, START) == 0.0
    assert first.admit("late", quota, START + 1) > 0
    assert second.admit("late", quota, START + 2) == 0.0
    # A minute later every window has ended: a newcomer takes a slot, whoever had it...
    later = START + MINUTE
    assert second.admit("new", quota, later) == 0.0
    assert first.admit("new", quota, later + 1) > 0
    # ...and the old subscriptions (all but one, which no longer fits) count afresh, exactly once.
    for n in range(MAX_PROBE - 1):
        assert first.admit(f"s{n}", quota, later + 2) == 0.0, n
        assert second.admit(f"s{n}", quota, later + 3) > 0, n


# ------------------------------------------------------------------------ across real processes


QUOTA = 50_000


def _count_calls(table: SharedCounterTable, start: Barrier, admitted: multiprocessing.Queue[int]) -> None:
    limiter, quota = SharedLimiter(table), plan(quota=QUOTA)
    start.wait(60)
    admitted.put(sum(limiter.admit("s", quota, START) == 0.0 for _ in range(QUOTA)))


def test_processes_calling_at_once_admit_exactly_the_quota() -> None:
    context = multiprocessing.get_context("spawn")
    table = SharedCounterTable(1024)
    start, admitted = context.Barrier(3), context.Queue()
    processes = [context.Process(target=_count_calls, args=(table, start, admitted)) for _ in range(3)]
    for process in processes:
        process.start()
    counts = [admitted.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    # Each tried the whole quota at the same moment: together they got it, exactly.
    assert sum(counts) == QUOTA, counts


def _die_holding(table: SharedCounterTable, holding: Event) -> None:
    table.lock.acquire()
    holding.set()
    time.sleep(60)


def test_the_lock_of_a_worker_killed_while_holding_it_is_freed() -> None:
    context = multiprocessing.get_context("spawn")
    table = SharedCounterTable(1024)
    assert table.free_lock_of_dead_worker() is False  # free: nothing to do
    holding = context.Event()
    victim = context.Process(target=_die_holding, args=(table, holding))
    victim.start()
    assert holding.wait(30)
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    assert table.free_lock_of_dead_worker() is True
    assert SharedLimiter(table).admit("s", plan(quota=1), START) == 0.0
