"""Late usage: calls that reached the database after their window was published.

``[monetization] late_usage_window`` = L seconds (0 turns it off). A gateway that crashed
replays its spool later: calls then reach the database after their window was published.
Each publishing run (:mod:`tollway.publishing.usage_publisher`) first *reconciles* the recent
past of every subscription, then plans its new usage. The time line of a subscription is cut
into *cells* at its start, its billing-period boundaries, and every whole UTC hour that no
record's window strictly contains. Invariants:

1. Every record (``usage:`` and ``late:``) lies inside one cell: usage windows are also cut at
   every whole hour from ``floor_hour(end - L)`` on (at most ``L / 1 h + 1`` pieces more, even
   for a catch-up of weeks), and late records are made per cell.
2. Cell boundaries before the watermark never move: new records start at or after it.
3. After a run reconciled a cell of ``[A, W)``, the quantities of the records lying in it (sent
   or pending) add up to its billable calls as counted then. ``W`` is the watermark; ``A`` the
   first cell boundary at or after ``floor_hour(W - L)`` (normally that hour itself).

So the records of a cell say exactly what was billed for it, whatever windows earlier runs
used. A cell that now counts more calls than its records hold gets one pending record of the
difference, key ``late:<subscription>:<cell start µs>:<cell end µs>:<new total>``: deterministic,
and never reused for the cell since its total only grows; like any pending record it is sent
unchanged until the engine took it, and counts as billed meanwhile. Fewer calls than billed
cannot happen (events are never deleted): logged, never sent.

Cost: per subscription one recount of ``[A, W)`` (an hour or so: a rollup or two and raw edges)
per period it touches, compared with the records already read for pending ones; only a
subscription whose total differs (late calls did arrive) is recounted cell by cell.

Guarantee: a call at ``t`` reaching the database at ``r <= t + L`` is billed, in the period of
``t``, by the first run starting after ``r`` (that run's ``W`` is before ``r``, so
``floor_hour(W - L) <= t``). A cancelled subscription keeps being reconciled, its watermark
moving on to ``canceled_at + L``; invoices wait until the watermark passed ``period end + L``.
Records made before the window was turned on or raised are not cut at the hours: ``A`` is then
the first boundary after them, and that older usage gets the shorter window it was published
with (never billed twice).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy.orm import Session

from tollway.models import MonSubscription, UsagePublishRecord
from tollway.pricing.periods import periods_overlapping, split_window
from tollway.publishing.windows import HOUR, Window, billable_counts, ceil_hour

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Held:
    """A record already made for a subscription (sent or pending)."""

    start: datetime
    end: datetime
    quantity: int


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICRO


def late_key(mon_subscription_id: str, start: datetime, end: datetime, total: int) -> str:
    return f"late:{mon_subscription_id}:{micros(start)}:{micros(end)}:{total}"


def usage_end(row: MonSubscription, until: datetime) -> datetime:
    return min(until, row.canceled_at) if row.canceled_at is not None else until


def cell_bounds(row: MonSubscription, low: datetime, end: datetime, held: list[Held]) -> list[datetime]:
    """Cell boundaries in ``[low, end)``, then ``end`` (the last cell is open: cut at ``end``)."""
    inside: set[datetime] = set()  # whole hours strictly inside a record: not boundaries
    for record in held:
        if record.end > low and record.start < end:
            hour = ceil_hour(max(record.start, low))
            hour += HOUR if hour == record.start else timedelta(0)
            while hour < min(record.end, end):
                inside.add(hour)
                hour += HOUR
    points = {row.started_at} if low <= row.started_at < end else set()
    points.update(
        period.start
        for period in periods_overlapping(row.started_at, row.billing_cycle, low, end)
        if low <= period.start
    )
    hour = ceil_hour(low)
    while hour < end:
        if hour not in inside:
            points.add(hour)
        hour += HOUR
    return [*sorted(points), end] if points else []


def _missed(row: MonSubscription, held: list[Held], start: datetime, end: datetime, counted: int) -> int:
    """Calls counted in ``[start, end)`` (cell boundaries) that its records do not bill yet."""
    billed = sum(record.quantity for record in held if start <= record.start < end)
    if counted < billed:  # events are never deleted: a bug somewhere; never sent as negative
        log.error(
            "subscription %s: %d calls billed in [%s, %s), %d counted", row.id, billed, start, end, counted
        )
    return counted - billed


def reconcile(
    session: Session,
    rows: Sequence[MonSubscription],
    lows: dict[str, datetime],
    held: dict[str, list[Held]],
) -> tuple[set[str], int]:
    """Pending ``late:`` records for calls that arrived after their window was sent (see the
    module docstring); the ids of the subscriptions that got one, and how many calls they bill."""
    windows: list[Window] = []
    spans: list[tuple[MonSubscription, list[datetime], datetime, datetime]] = []
    for row in rows:
        low = lows.get(row.id)
        if low is None or row.usage_published_until is None or row.subscription_id is None:
            continue
        end = usage_end(row, row.usage_published_until)
        bounds = cell_bounds(row, low, end, held[row.id])
        if len(bounds) < 2:
            continue
        # One window per period first: cells are recounted only where the total moved.
        for start, stop in split_window(row.started_at, row.billing_cycle, bounds[0], end):
            windows.append((row.subscription_id, start, stop))
            spans.append((row, bounds, start, stop))
    cells: list[Window] = []
    owners: list[tuple[MonSubscription, datetime, datetime]] = []
    for (row, bounds, start, stop), counted in zip(spans, billable_counts(session, windows), strict=True):
        if _missed(row, held[row.id], start, stop, counted) <= 0:
            continue
        assert row.subscription_id is not None
        for cell_start, cell_end in pairwise(bounds):
            if start <= cell_start and cell_end <= stop:
                cells.append((row.subscription_id, cell_start, cell_end))
                owners.append((row, cell_start, cell_end))
    made: set[str] = set()
    late_calls = 0
    for (row, start, stop), counted in zip(owners, billable_counts(session, cells), strict=True):
        missed = _missed(row, held[row.id], start, stop, counted)
        if missed <= 0:
            continue
        session.add(
            UsagePublishRecord(
                idempotency_key=late_key(row.id, start, stop, counted),
                mon_subscription_id=row.id,
                window_start=start,
                window_end=stop,
                quantity=missed,
                state="pending",
            )
        )
        late_calls += missed
        made.add(row.id)
    return made, late_calls
