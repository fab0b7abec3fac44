"""Usage counts per subscription for any time window.

Whole hours inside the window come from ``usage_rollups``; the partial hours at either edge come
from the raw ``usage_events`` (indexed by subscription and time). The answer is therefore exact
for any window, and cheap when the window is long: at most two hours of raw events are read per
subscription. Windows are half-open, ``start <= time < end``, in UTC.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, case, func, select
from sqlalchemy.orm import Session

from tollway.models.usage import UsageEventRow, UsageRollup

Counts = dict[str, tuple[int, int]]
HOUR = timedelta(hours=1)
IDS_PER_QUERY = 500


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _add(into: Counts, sub_id: str, billable: int, total: int) -> None:
    old = into.get(sub_id, (0, 0))
    into[sub_id] = (old[0] + int(billable), old[1] + int(total))


def _raw_counts(
    session: Session, ids: Collection[str] | None, start: datetime, end: datetime, into: Counts
) -> None:
    if start >= end:
        return
    billable = func.sum(case((UsageEventRow.billable.is_(True), 1), else_=0), type_=Integer)
    stmt = (
        select(UsageEventRow.subscription_id, billable, func.count())
        .where(UsageEventRow.time >= start, UsageEventRow.time < end)
        .group_by(UsageEventRow.subscription_id)
    )
    sub = UsageEventRow.subscription_id
    stmt = stmt.where(sub.in_(ids) if ids is not None else sub.is_not(None))
    for sub_id, n_billable, n_total in session.execute(stmt):
        _add(into, sub_id, n_billable or 0, n_total)


def _rollup_counts(
    session: Session, ids: Collection[str] | None, start: datetime, end: datetime, into: Counts
) -> None:
    if start >= end:
        return
    stmt = (
        select(
            UsageRollup.subscription_id,
            func.sum(UsageRollup.billable_count),
            func.sum(UsageRollup.total_count),
        )
        .where(UsageRollup.hour >= start, UsageRollup.hour < end)
        .group_by(UsageRollup.subscription_id)
    )
    if ids is not None:
        stmt = stmt.where(UsageRollup.subscription_id.in_(ids))
    for sub_id, n_billable, n_total in session.execute(stmt):
        _add(into, sub_id, n_billable or 0, n_total or 0)


def usage_counts(
    session: Session, subscription_ids: Collection[str] | None, start: datetime, end: datetime
) -> Counts:
    """``{subscription_id: (billable, total)}`` for events with ``start <= time < end``.

    ``subscription_ids=None`` means every subscription. Subscriptions without usage in the
    window are absent from the answer.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("usage_counts takes timezone-aware datetimes")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    counts: Counts = {}
    if subscription_ids is None:
        _window_counts(session, None, start, end, counts)
        return counts
    ids = sorted(set(subscription_ids))
    for offset in range(0, len(ids), IDS_PER_QUERY):
        _window_counts(session, ids[offset : offset + IDS_PER_QUERY], start, end, counts)
    return counts


def _window_counts(
    session: Session, ids: list[str] | None, start: datetime, end: datetime, counts: Counts
) -> None:
    first_full, last_full = _ceil_hour(start), _floor_hour(end)
    if first_full >= last_full:  # no whole hour inside: raw events only
        _raw_counts(session, ids, start, end, counts)
        return
    _raw_counts(session, ids, start, first_full, counts)
    _rollup_counts(session, ids, first_full, last_full, counts)
    _raw_counts(session, ids, last_full, end, counts)
