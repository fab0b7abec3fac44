"""Billable calls of many subscriptions, each over its own time window, in a few queries.

The same rule as :func:`tollway.metering.queries.usage_counts` (whole hours from
``usage_rollups``, the partial hours at either edge from ``usage_events``, windows half-open),
but for a batch of windows that do not share their bounds - every monetized subscription is
published from its own watermark. One query per table answers up to ``TERMS`` windows: each
window is one ``(subscription_id = ? AND time >= ? AND time < ?)`` term of an OR, which every
supported database answers from the ``(subscription_id, time)`` / ``(subscription_id, hour)``
indexes, grouped by subscription.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from tollway.models import UsageEventRow, UsageRollup

HOUR = timedelta(hours=1)
TERMS = 300  # windows per query: a few hundred OR terms stay well inside every backend's limits

Window = tuple[str, datetime, datetime]  # (subscription id, start, end)
_NOTHING: Window = ("", datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC))


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _rounds(windows: Sequence[Window]) -> list[list[int]]:
    """Indexes of ``windows`` in rounds where each subscription appears at most once."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for index, (subscription_id, _, _) in enumerate(windows):
        depth = seen.get(subscription_id, 0)
        seen[subscription_id] = depth + 1
        if depth == len(rounds):
            rounds.append([])
        rounds[depth].append(index)
    return rounds


def _ranges(column: ColumnElement[datetime], sub_column: ColumnElement[str]) -> ColumnElement[bool]:
    return or_(
        *(
            and_(sub_column == bindparam(f"s{n}"), column >= bindparam(f"a{n}"), column < bindparam(f"z{n}"))
            for n in range(TERMS)
        )
    )


@functools.cache
def _raw_statement() -> Select[tuple[str, int]]:
    # Built once with TERMS placeholder ranges: the same statement object every time, so it is
    # compiled once per process (unused ranges get values that match nothing).
    events = UsageEventRow.__table__.c
    return (
        select(events.subscription_id, func.count())
        .where(events.billable.is_(True), _ranges(events.time, events.subscription_id))
        .group_by(events.subscription_id)
    )


@functools.cache
def _rollup_statement() -> Select[tuple[str, int]]:
    rollups = UsageRollup.__table__.c
    return (
        select(rollups.subscription_id, func.sum(rollups.billable_count))
        .where(_ranges(rollups.hour, rollups.subscription_id))
        .group_by(rollups.subscription_id)
    )


def _params(terms: list[Window]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for n in range(TERMS):
        sub, start, end = terms[n] if n < len(terms) else _NOTHING
        params[f"s{n}"], params[f"a{n}"], params[f"z{n}"] = sub, start, end
    return params


def _sums(session: Session, statement: Select[tuple[str, int]], terms: list[Window]) -> dict[str, int]:
    """Per subscription, the sum over its terms (a subscription may have two: head and tail)."""
    sums: dict[str, int] = {}
    for offset in range(0, len(terms), TERMS):
        for sub, n in session.execute(statement, _params(terms[offset : offset + TERMS])):
            sums[sub] = sums.get(sub, 0) + int(n or 0)
    return sums


def billable_counts(session: Session, windows: Sequence[Window]) -> list[int]:
    """Billable calls in each window, in the order given (0 where there were none)."""
    counts = [0] * len(windows)
    for round_ in _rounds(windows):
        for offset in range(0, len(round_), TERMS):
            chunk = round_[offset : offset + TERMS]
            raw_terms: list[Window] = []
            rollup_terms: list[Window] = []
            owner: dict[str, int] = {}
            for index in chunk:
                sub, start, end = windows[index]
                if end <= start:
                    continue
                owner[sub] = index
                first_full, last_full = ceil_hour(start), floor_hour(end)
                if first_full >= last_full:  # no whole hour inside: raw events only
                    raw_terms.append((sub, start, end))
                    continue
                if start < first_full:
                    raw_terms.append((sub, start, first_full))
                rollup_terms.append((sub, first_full, last_full))
                if last_full < end:
                    raw_terms.append((sub, last_full, end))
            for source in (
                _sums(session, _raw_statement(), raw_terms),
                _sums(session, _rollup_statement(), rollup_terms),
            ):
                for sub, n in source.items():
                    if sub in owner:
                        counts[owner[sub]] += n
    return counts
