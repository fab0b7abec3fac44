"""The billing maintenance run: finish what the database marks as pending.

Run by the scheduler every ``[monetization] finalize_interval`` seconds (and soon after a
subscription ends), and callable from tests and the command line. Each step is idempotent:

1. tier plans marked inactive (monetization disabled, plan edited) are retired in the engine;
2. subscriptions marked ``canceling`` are ended in the engine - for an end that has passed, only
   once their usage up to the end is published (under the usage-publisher lock, so it never
   races a publishing job);
3. cancelled subscriptions whose end is ``late_usage_window`` past get that late usage published
   (the scheduled publishing may be far off or off), so their final invoice is not delayed more;
4. ended billing periods get their final, numbered invoice.

A final invoice thus comes ``late_usage_window`` (plus up to ``finalize_interval``) after the end:
a call made before the end that reaches the database late is still in it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.invoicing.invoices import finalize_invoices
from tollway.invoicing.payments import block_overdue
from tollway.models import MonSubscription
from tollway.monetization.enabling import retire_inactive_tiers
from tollway.monetization.service import MonetizationService
from tollway.publishing import jobs, locks
from tollway.publishing.usage_publisher import late_window, publish_subscription, publish_until

log = logging.getLogger(__name__)

LOCK = "billing-maintenance"
LEASE = timedelta(minutes=10)


@dataclass
class MaintenanceResult:
    tiers_retired: int = 0
    subscriptions_ended: int = 0
    invoices_finalized: int = 0
    blocked_for_payment: int = 0
    skipped: bool = False


def _published_to_end(row: MonSubscription) -> bool:
    if row.plan_type != "DynamicRate" or row.canceled_at is None:
        return True
    return (row.usage_published_until or row.started_at) >= row.canceled_at


def complete_cancellations(
    svc: MonetizationService, factory: sessionmaker[Session], now: datetime, only: list[str] | None = None
) -> int:
    """Tell the engine about ends recorded in the database; returns how many were told."""
    with factory() as session:
        stmt = select(MonSubscription).where(
            MonSubscription.status == "canceling", MonSubscription.engine == svc.engine_name
        )
        if only is not None:
            stmt = stmt.where(MonSubscription.id.in_(only))
        rows = list(session.scalars(stmt))
    if not rows:
        return 0
    until = publish_until(now)
    unpublished = [
        r for r in rows if r.canceled_at is not None and r.canceled_at <= until and not _published_to_end(r)
    ]
    if unpublished:
        holder = locks.new_holder()
        if locks.acquire(factory, jobs.LOCK, holder, jobs.LEASE):
            try:
                for row in unpublished:
                    assert row.canceled_at is not None
                    publish_subscription(svc, factory, row.id, min(until, row.canceled_at))
            finally:
                locks.release(factory, jobs.LOCK, holder)
    told = 0
    for row in rows:
        try:
            with transaction(factory) as session:
                # Locked: a resume (monetization enabled again) may race this run.
                fresh = session.get(MonSubscription, row.id, with_for_update=True)
                if fresh is None or fresh.status != "canceling" or fresh.canceled_at is None:
                    continue
                if fresh.canceled_at <= now and not _published_to_end(fresh):
                    continue  # the usage has to settle first; the next run finishes it
                call = svc.call(session, fresh.tenant_id, f"cancel:{fresh.id}")
                svc.engine.cancel_subscription(call, svc.ref(session, fresh), fresh.canceled_at)
                fresh.status = "canceled"
            told += 1
        except Exception:
            log.exception(
                "ending monetized subscription %s in the engine failed; retried on the next run", row.id
            )
    return told


def settle_late_usage(svc: MonetizationService, factory: sessionmaker[Session], now: datetime) -> int:
    """Publish the late usage of cancelled subscriptions whose late-usage window has passed."""
    late = late_window(svc)
    if late <= timedelta(0):
        return 0
    until = publish_until(now)
    with factory() as session:
        rows = list(
            session.scalars(
                select(MonSubscription).where(
                    MonSubscription.status == "canceled",
                    MonSubscription.engine == svc.engine_name,
                    MonSubscription.plan_type == "DynamicRate",
                )
            )
        )
    due = [
        row.id
        for row in rows
        if row.canceled_at is not None
        and row.canceled_at + late <= until
        and _published_to_end(row)
        and (row.usage_published_until or row.started_at) < row.canceled_at + late
    ]
    if not due:
        return 0
    holder = locks.new_holder()
    if not locks.acquire(factory, jobs.LOCK, holder, jobs.LEASE):
        return 0  # a publishing job runs: it does the same
    try:
        return sum(publish_subscription(svc, factory, mon_id, until) for mon_id in due)
    finally:
        locks.release(factory, jobs.LOCK, holder)


def run_maintenance(
    svc: MonetizationService, factory: sessionmaker[Session], now: datetime | None = None
) -> MaintenanceResult:
    """One maintenance run, unless another process is running one."""
    now = now or utcnow()
    holder = locks.new_holder()
    if not locks.acquire(factory, LOCK, holder, LEASE):
        return MaintenanceResult(skipped=True)
    try:
        result = MaintenanceResult()
        result.tiers_retired = retire_inactive_tiers(svc, factory)
        result.subscriptions_ended = complete_cancellations(svc, factory, now)
        settle_late_usage(svc, factory, now)
        result.invoices_finalized = finalize_invoices(svc, factory, now)
        result.blocked_for_payment = block_overdue(factory, svc.settings.monetization, now)
        return result
    finally:
        locks.release(factory, LOCK, holder)
