"""Billing periods: UTC, one per billing cycle, anchored at the subscription's start.

Period *n* of a subscription that started at ``anchor`` is ``[anchor + n cycles, anchor + (n+1)
cycles)``. Months and years keep the anchor's day and time of day; when a month is too short the
day is clamped (an anchor on 31 January gives 28/29 February, then 31 March), as Stripe does,
and the clamping never accumulates because every boundary is computed from the anchor itself.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

CYCLES: Final = ("day", "week", "month", "year")
_FIXED: Final = {"day": timedelta(days=1), "week": timedelta(weeks=1)}


@dataclass(frozen=True, slots=True)
class Period:
    """``start <= t < end``; ``index`` counts periods from the anchor (0 = the first)."""

    index: int
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def _check(anchor: datetime, cycle: str) -> datetime:
    if cycle not in CYCLES:
        raise ValueError(f"unsupported billing cycle {cycle!r}; expected one of {', '.join(CYCLES)}")
    if anchor.tzinfo is None:
        raise ValueError("billing periods need a timezone-aware anchor")
    return anchor.astimezone(UTC)


def boundary(anchor: datetime, cycle: str, index: int) -> datetime:
    """The start of period ``index`` (may be negative: periods before the anchor)."""
    anchor = _check(anchor, cycle)
    fixed = _FIXED.get(cycle)
    if fixed is not None:
        return anchor + fixed * index
    months = index * (12 if cycle == "year" else 1)
    month0 = anchor.month - 1 + months
    year, month = anchor.year + month0 // 12, month0 % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_at(anchor: datetime, cycle: str, moment: datetime) -> Period:
    """The period that holds ``moment`` (before the anchor: the periods count backwards)."""
    anchor = _check(anchor, cycle)
    moment = moment.astimezone(UTC)
    fixed = _FIXED.get(cycle)
    if fixed is not None:
        index = (moment - anchor) // fixed
    else:
        months = (moment.year - anchor.year) * 12 + moment.month - anchor.month
        index = months // 12 if cycle == "year" else months
        # The estimate is off by at most one: the anchor's day/time may not be reached yet.
        while boundary(anchor, cycle, index) > moment:
            index -= 1
        while boundary(anchor, cycle, index + 1) <= moment:
            index += 1
    return Period(index, boundary(anchor, cycle, index), boundary(anchor, cycle, index + 1))


def periods_overlapping(anchor: datetime, cycle: str, start: datetime, end: datetime) -> Iterator[Period]:
    """Every period that shares at least an instant with ``[start, end)``, in order."""
    if end <= start:
        return
    period = period_at(anchor, cycle, start)
    while period.start < end:
        yield period
        period = Period(period.index + 1, period.end, boundary(anchor, cycle, period.index + 2))


def split_window(
    anchor: datetime, cycle: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut at period boundaries, so each piece lies inside one period."""
    return [
        (max(start, period.start), min(end, period.end))
        for period in periods_overlapping(anchor, cycle, start, end)
    ]
