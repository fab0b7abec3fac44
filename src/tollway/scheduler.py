"""Background billing jobs of the control plane (a service of ``tollway serve``).

* Usage publishing every ``[monetization] publish_interval`` seconds (0 turns it off); a run is
  skipped when a job started elsewhere (REST call, ``tollway publish-usage``, another node) still
  holds the lock.
* Prepaid settlement every ``[monetization] prepaid_settle_interval`` seconds: stored calls and
  period fees of prepaid subscriptions become wallet entries, expired credits are taken back,
  alert thresholds crossed since become events (tollway.wallets.alerts).
* Webhook deliveries due every ``[webhooks] dispatch_interval`` seconds (tollway.webhooks.dispatch).
* Billing maintenance (retire tier plans, end subscriptions, finalize invoices) every
  ``[monetization] finalize_interval`` seconds, and a few seconds after a subscription ends
  (the usage of its last calls must reach the database before its final invoice is made).

The work itself is blocking database and engine I/O and runs in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from tollway.invoicing.maintenance import run_maintenance
from tollway.monetization.service import MonetizationService
from tollway.publishing import jobs
from tollway.publishing.usage_publisher import SETTLE
from tollway.runtime import Runtime
from tollway.wallets.alerts import evaluate as evaluate_alerts
from tollway.wallets.service import expire_credits
from tollway.wallets.settlement import settle_all
from tollway.webhooks.dispatch import dispatch_due

log = logging.getLogger(__name__)

WAKE_DELAY = SETTLE.total_seconds() + 1.0


def _publish_once(svc: MonetizationService) -> None:
    try:
        job = jobs.start(svc, svc.session_factory, "schedule")
    except jobs.JobBusy:
        log.info("scheduled usage publishing skipped: a job is already running")
        return
    result = job.run()
    if result is not None:
        log.info(
            "usage published: %d subscriptions, %d records, %d calls, %d failed",
            result.subscriptions,
            result.records,
            result.calls,
            result.failed,
        )


def _maintain_once(svc: MonetizationService) -> None:
    result = run_maintenance(svc, svc.session_factory)
    counts = (
        result.invoices_finalized,
        result.subscriptions_ended,
        result.tiers_retired,
        result.blocked_for_payment,
    )
    if not result.skipped and any(counts):
        log.info(
            "billing maintenance: %d invoices finalized, %d subscriptions ended, %d tier plans retired, "
            "%d subscriptions blocked for overdue invoices",
            *counts,
        )


async def _repeat(
    svc: MonetizationService, interval: float, work: Callable[[MonetizationService], None], what: str
) -> None:
    """``work`` in a worker thread every ``interval`` seconds; a failure is logged, the next run comes."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(work, svc)
        except Exception:
            log.exception("%s failed", what)


def _dispatch_once(svc: MonetizationService) -> None:
    runtime = svc.runtime
    dispatch_due(runtime.session_factory, runtime.secrets, runtime.settings.webhooks)


def _settle_once(svc: MonetizationService) -> None:
    now = datetime.now(UTC)
    result = settle_all(svc.session_factory, now)  # first: expiry takes what calls left of a credit
    with svc.session_factory.begin() as session:
        expired = expire_credits(session, now)
    alerted = evaluate_alerts(svc.session_factory, now)
    if alerted.events:
        log.info("alerts: %d thresholds crossed", alerted.events)
    if expired:
        log.info("prepaid credits expired: %d", expired)
    if result.fees or result.fees_unpaid:
        log.info("prepaid fees: %d taken, %d the wallets cannot pay yet", result.fees, result.fees_unpaid)


async def _maintenance_loop(svc: MonetizationService, interval: int, wake: asyncio.Event) -> None:
    while True:
        timeout = interval if interval > 0 else None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)
        if wake.is_set():
            wake.clear()
            await asyncio.sleep(WAKE_DELAY)  # let the last calls' usage settle first
        try:
            await asyncio.to_thread(_maintain_once, svc)
        except Exception:
            log.exception("billing maintenance failed")


async def run_scheduler(runtime: Runtime) -> None:
    """Runs until cancelled."""
    svc = MonetizationService(runtime)
    settings = runtime.settings.monetization
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def wake_soon() -> None:  # called from request threads
        loop.call_soon_threadsafe(wake.set)

    runtime.wake_scheduler = wake_soon
    tasks = [
        asyncio.create_task(_maintenance_loop(svc, settings.finalize_interval, wake)),
        asyncio.create_task(
            _repeat(svc, settings.prepaid_settle_interval, _settle_once, "prepaid settlement")
        ),
        asyncio.create_task(
            _repeat(svc, runtime.settings.webhooks.dispatch_interval, _dispatch_once, "webhook dispatch")
        ),
    ]
    if settings.publish_interval > 0:
        publishing = _repeat(svc, settings.publish_interval, _publish_once, "scheduled usage publishing")
        tasks.append(asyncio.create_task(publishing))
    try:
        await asyncio.gather(*tasks)
    finally:
        runtime.wake_scheduler = lambda: None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
