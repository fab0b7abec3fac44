"""A business plan's quota windows: fixed, aligned to the epoch in UTC (a per-minute window
starts at :00 seconds, a per-day window at midnight UTC) or to calendar months (month/year
units), so every gateway process and node, and the alerts, agree on where a window starts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

UNIT_SECONDS = {
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "s": 1,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "m": 60,
    "hour": 3600,
    "hours": 3600,
    "h": 3600,
    "day": 86400,
    "days": 86400,
    "d": 86400,
    "week": 604800,
    "weeks": 604800,
    "w": 604800,
}
UNIT_MONTHS = {"month": 1, "months": 1, "mo": 1, "year": 12, "years": 12, "y": 12}


@dataclass(slots=True)
class Window:
    """A fixed window aligned to the epoch (seconds) or to calendar months (months)."""

    seconds: float = 0.0
    months: int = 0


def window_of(unit: str | None, count: int) -> Window | None:
    """The window for ``count`` times ``unit``; None for a unit Tollway does not know."""
    name = (unit or "").strip().lower()
    count = max(1, count)
    if name in UNIT_SECONDS:
        return Window(seconds=float(UNIT_SECONDS[name] * count))
    if name in UNIT_MONTHS:
        return Window(months=UNIT_MONTHS[name] * count)
    return None


def quota_window(unit: str | None, count: int) -> Window:
    """A plan's quota window; an unknown unit counts as minutes (the gateway logs it)."""
    return window_of(unit, count) or Window(seconds=60.0 * max(1, count))


def _month(index: int) -> float:
    return datetime(1970 + index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp()


def window_end(window: Window, now: float) -> float:
    """When the window containing ``now`` ends (epoch seconds)."""
    if not window.months:
        return (now // window.seconds + 1) * window.seconds
    moment = datetime.fromtimestamp(now, UTC)
    index = (moment.year - 1970) * 12 + moment.month - 1
    return _month((index // window.months + 1) * window.months)


def window_start(window: Window, now: float) -> float:
    """When the window containing ``now`` started (epoch seconds)."""
    if not window.months:
        return (now // window.seconds) * window.seconds
    moment = datetime.fromtimestamp(now, UTC)
    index = (moment.year - 1970) * 12 + moment.month - 1
    return _month((index // window.months) * window.months)
