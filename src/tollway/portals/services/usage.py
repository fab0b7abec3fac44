"""Billable calls per day of a subscription's current billing period (the usage chart)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from tollway.db.base import utcnow
from tollway.identity.principal import Principal
from tollway.invoicing import invoices
from tollway.metering.queries import usage_counts
from tollway.portals.services.common import checked_id, require_subscriber
from tollway.pricing.periods import period_at
from tollway.runtime import Runtime
from tollway.subscriptions import service as sub_service


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """Billable calls per UTC day in the subscription's current billing period (up to now)."""

    start: datetime
    end: datetime
    total: int
    days: list[tuple[date, int]]


CHART_MAX_DAYS = 31  # longer cycles (year) show their last 31 days


def daily_usage(db: Session, runtime: Runtime, principal: Principal, subscription_id: str) -> DailyUsage:
    require_subscriber(principal)
    sub = sub_service.get_owned(db, principal, checked_id(subscription_id))
    row = invoices.current_row(db, sub.id)
    now = utcnow()
    # Billed subscriptions use their engine's period; free ones a month from the day they began.
    period = (
        period_at(row.started_at, row.billing_cycle, now) if row else period_at(sub.created_at, "month", now)
    )
    until = min(now, period.end)
    # One bar per UTC day of the period (days still to come stay empty, so the axis spans the
    # whole period); periods longer than the chart show the days up to today.
    buckets: list[tuple[datetime, datetime]] = []
    cursor = period.start
    while cursor < period.end:
        midnight = datetime.combine(cursor.date() + timedelta(days=1), time(), tzinfo=UTC)
        buckets.append((cursor, min(midnight, period.end)))
        cursor = midnight
    if len(buckets) > CHART_MAX_DAYS:
        past = [b for b in buckets if b[0] < now]
        buckets = past[-CHART_MAX_DAYS:]
    days = [(start.date(), _billable(db, sub.id, start, min(end, until))) for start, end in buckets]
    return DailyUsage(
        start=period.start, end=period.end, total=_billable(db, sub.id, period.start, until), days=days
    )


def _billable(db: Session, subscription_id: str, start: datetime, end: datetime) -> int:
    if end <= start:
        return 0
    return usage_counts(db, [subscription_id], start, end).get(subscription_id, (0, 0))[0]
