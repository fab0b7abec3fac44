"""Billing periods: UTC, anchored at the subscription's start, one per cycle."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollway.pricing.periods import CYCLES, boundary, period_at, periods_overlapping, split_window


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_monthly_periods_keep_the_anchor_day_and_clamp_short_months() -> None:
    anchor = utc(2026, 1, 31, 14, 30)
    starts = [boundary(anchor, "month", i) for i in range(4)]
    assert starts == [
        utc(2026, 1, 31, 14, 30),
        utc(2026, 2, 28, 14, 30),
        utc(2026, 3, 31, 14, 30),
        utc(2026, 4, 30, 14, 30),
    ]
    leap = utc(2024, 2, 29)
    assert boundary(leap, "year", 1) == utc(2025, 2, 28)
    assert boundary(leap, "year", 4) == utc(2028, 2, 29)


def test_period_at_finds_the_period_holding_a_moment() -> None:
    anchor = utc(2026, 11, 5, 9)
    period = period_at(anchor, "month", utc(2026, 12, 5, 8, 59))
    assert (period.index, period.start, period.end) == (0, anchor, utc(2026, 12, 5, 9))
    assert period_at(anchor, "month", utc(2026, 12, 5, 9)).index == 1
    assert period_at(anchor, "week", anchor + timedelta(days=15)).start == anchor + timedelta(weeks=2)
    assert period_at(anchor, "day", anchor - timedelta(hours=1)).index == -1


def test_unknown_cycle_or_naive_anchor_is_refused() -> None:
    with pytest.raises(ValueError, match="billing cycle"):
        period_at(utc(2026, 1, 1), "fortnight", utc(2026, 1, 2))
    with pytest.raises(ValueError, match="timezone"):
        period_at(datetime(2026, 1, 1), "day", utc(2026, 1, 2))


def test_split_window_cuts_at_boundaries() -> None:
    anchor = utc(2026, 1, 1, 12)
    pieces = split_window(anchor, "day", utc(2026, 1, 1, 20), utc(2026, 1, 3, 13))
    assert pieces == [
        (utc(2026, 1, 1, 20), utc(2026, 1, 2, 12)),
        (utc(2026, 1, 2, 12), utc(2026, 1, 3, 12)),
        (utc(2026, 1, 3, 12), utc(2026, 1, 3, 13)),
    ]
    assert split_window(anchor, "day", utc(2026, 1, 2), utc(2026, 1, 2)) == []


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(anchor=moments, moment=moments, cycle=st.sampled_from(CYCLES))
def test_every_moment_lies_in_exactly_its_period(anchor: datetime, moment: datetime, cycle: str) -> None:
    period = period_at(anchor, cycle, moment)
    assert period.start <= moment < period.end
    assert period.start == boundary(anchor, cycle, period.index)
    assert period.end == boundary(anchor, cycle, period.index + 1)


@given(
    anchor=moments,
    start=moments,
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)),
    cycle=st.sampled_from(CYCLES),
)
def test_split_pieces_tile_the_window_one_period_each(
    anchor: datetime, start: datetime, length: timedelta, cycle: str
) -> None:
    end = start + length
    pieces = split_window(anchor, cycle, start, end)
    if start == end:
        assert pieces == []
        return
    assert pieces[0][0] == start and pieces[-1][1] == end
    for (_, a_end), (b_start, _) in itertools.pairwise(pieces):
        assert a_end == b_start
    for piece_start, piece_end in pieces:
        assert piece_start < piece_end
        assert period_at(anchor, cycle, piece_start) == period_at(
            anchor, cycle, piece_end - timedelta(microseconds=1)
        )
    assert len(pieces) == len(list(periods_overlapping(anchor, cycle, start, end)))
