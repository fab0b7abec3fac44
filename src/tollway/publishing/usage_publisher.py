"""Usage publishing: billable calls of every monetized, metered subscription -> the engine.

Each subscription has its own watermark (``mon_subscriptions.usage_published_until``): the usage
sent is the one since that watermark, never since one global time, so a subscription that failed
last time, or was created a minute ago, gets exactly its own missing usage.

One run, per batch of subscriptions:

1. *Plan* (one transaction): the window ``[watermark, until)`` is cut at billing-period
   boundaries; each piece with billable calls becomes a ``usage_publish_records`` row in state
   ``pending`` whose primary key is the deterministic idempotency key
   ``usage:<subscription>:<start µs>:<end µs>``. Committed before the engine hears of it.
2. *Send* (one transaction): each subscription's pending records go to the engine; the records
   turn ``sent`` and the watermark moves in the same transaction. If the engine fails for one
   subscription the batch is redone one subscription per transaction, so the others are
   published and the failed one keeps its pending records. The next run sends those same records
   (same keys, same quantities) before anything new: a retry never double-counts.

``until``, the cut-off: for a job (REST, scheduler, ``tollway publish-usage``:
:mod:`tollway.publishing.jobs`) the moment the job was asked for. Before planning, the run waits
until the usage stored for the last ``DRAIN_LOOKBACK`` before the cut-off has stopped growing for
a quiet spell a few spool-writer passes long (:func:`wait_for_stored`, at most ``DRAIN_LIMIT``):
the gateways' spool writers store every spooled event within one pass (5 ms while calls come,
``[metering] flush_interval`` at most), and an event is spooled before its answer's last bytes go
out, so a call answered before the cut-off is in the database by then unless its writer is far
behind (a saturated or stopped node: that usage is late usage, below). The control plane never
reads the spools: it sees only the database. Without a job (``until`` given by the caller,
billing maintenance) ``until`` is ``now - SETTLE`` and nothing waits.
Calls are counted from ``usage_rollups`` for whole hours and ``usage_events`` at the edges
(:mod:`tollway.publishing.windows`, a batch of windows per query), so windows of any
length are exact.

**Late usage** (``[monetization] late_usage_window``): each run first reconciles the recent past
of every subscription (:mod:`tollway.publishing.late_usage`), then plans its new usage; usage
windows are cut at whole hours over their last ``late_usage_window`` for that.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tollway.billing.contract import EngineCall, TenantContext, UsageRecord
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.models import MonSharedCustomer, MonSubscription, UsageEventRow, UsagePublishRecord
from tollway.monetization.context import subscription_ref, tenant_context
from tollway.monetization.service import MonetizationService
from tollway.monetization.subscription_sync import LIVE
from tollway.pricing.periods import split_window
from tollway.publishing.late_usage import Held, micros, reconcile, usage_end
from tollway.publishing.windows import HOUR, Window, billable_counts, ceil_hour, floor_hour

log = logging.getLogger(__name__)

SETTLE = timedelta(seconds=2)
BATCH = 500
# A job's wait for the usage of calls answered before its cut-off (wait_for_stored).
DRAIN_LIMIT = timedelta(seconds=5)  # the most a run waits
DRAIN_LOOKBACK = timedelta(seconds=10)  # the calls watched: answered this long before the cut-off
DRAIN_STEP = 0.05  # seconds between two looks
DRAIN_QUIET = 0.25  # seconds without a new stored call (many writer passes: 5 ms to flush_interval)

Progress = Callable[[int], None]


@dataclass
class PublishResult:
    until: datetime
    subscriptions: int = 0
    published: int = 0  # subscriptions whose usage reached the engine (or had none to send)
    failed: int = 0
    records: int = 0
    calls: int = 0
    late_calls: int = 0  # of ``calls``: calls that reached the database after their window was sent
    waited: float = 0.0  # seconds spent waiting for the usage before ``until`` to be stored
    errors: list[str] = field(default_factory=list)


def usage_key(mon_subscription_id: str, start: datetime, end: datetime) -> str:
    return f"usage:{mon_subscription_id}:{micros(start)}:{micros(end)}"


def publish_until(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - SETTLE


def _stored_before(factory: sessionmaker[Session], cut_off: datetime) -> int:
    with factory() as session:
        count = session.scalar(
            select(func.count())
            .select_from(UsageEventRow)
            .where(UsageEventRow.time >= cut_off - DRAIN_LOOKBACK, UsageEventRow.time < cut_off)
        )
    return int(count or 0)


def wait_for_stored(
    factory: sessionmaker[Session],
    cut_off: datetime,
    *,
    quiet: float = DRAIN_QUIET,
    limit: timedelta = DRAIN_LIMIT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Wait until the calls stored with a time in the last ``DRAIN_LOOKBACK`` before ``cut_off``
    stop growing for ``quiet`` seconds, at most ``limit``; returns the seconds waited.

    One indexed count (``usage_events.time``) every ``DRAIN_STEP``. Waiting ``quiet`` without a
    new one means every spool writer that keeps up has stored what was spooled before the cut-off
    (one pass each, every ``flush_interval`` at most); calls still out there are late usage."""
    began = changed = clock()
    seen = _stored_before(factory, cut_off)
    while True:
        now = clock()
        if now - changed >= quiet:
            return now - began
        if now - began >= limit.total_seconds():
            log.warning(
                "usage before %s still arriving after %.1f s; what comes later is billed as late usage",
                cut_off.isoformat(),
                now - began,
            )
            return now - began
        sleep(DRAIN_STEP)
        count = _stored_before(factory, cut_off)
        if count != seen:
            seen, changed = count, clock()


def late_window(svc: MonetizationService) -> timedelta:
    return timedelta(seconds=svc.settings.monetization.late_usage_window)


def watermark_target(row: MonSubscription, until: datetime, late: timedelta) -> datetime:
    """Where a run up to ``until`` leaves the watermark: past a cancellation, on to ``+ late``
    (no usage is counted after the end, but late usage before it still is)."""
    return min(until, row.canceled_at + late) if row.canceled_at is not None else until


def _metered_ids(session: Session, engine_name: str, late: timedelta) -> list[str]:
    rows = session.execute(
        select(MonSubscription.id, MonSubscription.canceled_at, MonSubscription.usage_published_until)
        .where(
            MonSubscription.engine == engine_name,
            MonSubscription.plan_type == "DynamicRate",
            MonSubscription.status.in_(LIVE),
        )
        .order_by(MonSubscription.id)
    )
    # Cancelled ones stay until their watermark reached the end + late (they are few: they become
    # "ended", and leave LIVE, once their final invoice is stored).
    return [
        mon_id
        for mon_id, canceled_at, published in rows
        if canceled_at is None or published is None or published < canceled_at + late
    ]


class _Calls:
    """Engine calls for one transaction, with tenant contexts looked up once per tenant."""

    def __init__(self, svc: MonetizationService, session: Session) -> None:
        self.svc, self.session = svc, session
        self.tenants: dict[str, TenantContext] = {}

    def __call__(self, tenant_id: str, key: str) -> EngineCall:
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            tenant = self.tenants[tenant_id] = tenant_context(self.session, self.svc.secrets, tenant_id)
        return EngineCall(tenant=tenant, session=self.session, key=key)


def _hour_cuts(start: datetime, end: datetime, cut_from: datetime) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut at every whole hour at or after ``cut_from`` (invariant 1)."""
    pieces = []
    hour = ceil_hour(max(start, cut_from))
    if hour == start:
        hour += HOUR
    while hour < end:
        pieces.append((start, hour))
        start, hour = hour, hour + HOUR
    pieces.append((start, end))
    return pieces


def _plan(
    session: Session, rows: Sequence[MonSubscription], until: datetime, late: timedelta, result: PublishResult
) -> set[str]:
    """Phase 1: pending records for late and new usage; watermarks of subscriptions without any
    move. Returns the ids of the subscriptions that have records to send."""
    ids = [row.id for row in rows]
    lows = {
        row.id: max(floor_hour(row.usage_published_until - late), row.started_at)
        for row in rows
        if late > timedelta(0) and row.usage_published_until is not None and row.subscription_id is not None
    }
    # The records a run needs: the pending ones, and the recent ones a reconciliation compares
    # with. Two reads, each answered by its index, never every record a subscription ever had.
    columns = (
        UsagePublishRecord.idempotency_key,
        UsagePublishRecord.mon_subscription_id,
        UsagePublishRecord.window_start,
        UsagePublishRecord.window_end,
        UsagePublishRecord.quantity,
        UsagePublishRecord.state,
    )
    found = {
        record.idempotency_key: record
        for record in session.execute(
            select(*columns).where(
                UsagePublishRecord.state == "pending", UsagePublishRecord.mon_subscription_id.in_(ids)
            )
        )
    }
    if lows:
        recent = select(*columns).where(
            UsagePublishRecord.mon_subscription_id.in_(list(lows)),
            UsagePublishRecord.window_end > min(lows.values()),
        )
        found.update((record.idempotency_key, record) for record in session.execute(recent))
    pending_end: dict[str, datetime] = {}
    held: dict[str, list[Held]] = defaultdict(list)
    for _, mon_id, start, end, quantity, state in found.values():
        if state == "pending":
            pending_end[mon_id] = max(end, pending_end.get(mon_id, end))
        held[mon_id].append(Held(start, end, quantity))

    late_ids, late_calls = reconcile(session, rows, lows, held)
    result.late_calls += late_calls
    to_send = set(pending_end) | late_ids

    windows: list[Window] = []
    owners: list[tuple[MonSubscription, datetime, datetime]] = []
    targets: dict[str, datetime] = {}
    for row in rows:
        start = max(row.usage_published_until or row.started_at, pending_end.get(row.id, row.started_at))
        target = watermark_target(row, until, late)
        if target <= start:
            continue
        targets[row.id] = target
        end = usage_end(row, until)
        if row.subscription_id is None or end <= start:
            continue  # no usage can be attributed to it, or none after its end
        cut_from = floor_hour(end - late) if late > timedelta(0) else end
        for period_start, period_end in split_window(row.started_at, row.billing_cycle, start, end):
            for piece_start, piece_end in _hour_cuts(period_start, period_end, cut_from):
                windows.append((row.subscription_id, piece_start, piece_end))
                owners.append((row, piece_start, piece_end))

    for (row, start, end), billable in zip(owners, billable_counts(session, windows), strict=True):
        if billable <= 0:
            continue
        session.add(
            UsagePublishRecord(
                idempotency_key=usage_key(row.id, start, end),
                mon_subscription_id=row.id,
                window_start=start,
                window_end=end,
                quantity=billable,
                state="pending",
            )
        )
        to_send.add(row.id)
    for row in rows:
        if row.id in to_send:
            continue
        if row.id in targets:
            row.usage_published_until = targets[row.id]  # nothing billable: nothing to send
        result.published += 1
    return to_send


def _send_one(
    svc: MonetizationService,
    calls: _Calls,
    row: MonSubscription,
    records: list[UsagePublishRecord],
    customer_id: str | None,
    until: datetime,
) -> tuple[int, int]:
    if not records:
        return 0, 0
    call = calls(row.tenant_id, f"publish:{records[-1].idempotency_key}")
    svc.engine.publish_usage(
        call,
        subscription_ref(row, customer_id),
        [UsageRecord(r.idempotency_key, r.quantity, r.window_start, r.window_end) for r in records],
    )
    for record in records:
        record.state = "sent"
    end = max(record.window_end for record in records)
    # The plan phase covered [watermark, target): pieces without a record had no billable calls.
    row.usage_published_until = max(end, watermark_target(row, until, late_window(svc)))
    return len(records), sum(record.quantity for record in records)


def _send_in(
    svc: MonetizationService, session: Session, ids: Sequence[str], until: datetime
) -> tuple[int, int]:
    """Send the pending records of ``ids`` in ``session`` (rows loaded in three queries)."""
    rows = list(session.scalars(select(MonSubscription).where(MonSubscription.id.in_(list(ids)))))
    records: dict[str, list[UsagePublishRecord]] = defaultdict(list)
    for record in session.scalars(
        select(UsagePublishRecord)
        .where(UsagePublishRecord.mon_subscription_id.in_(list(ids)), UsagePublishRecord.state == "pending")
        .order_by(UsagePublishRecord.window_start)
    ):
        records[record.mon_subscription_id].append(record)
    shared_ids = {row.shared_customer_id for row in rows if row.shared_customer_id}
    customers = {
        shared_id: customer_id
        for shared_id, customer_id in session.execute(
            select(MonSharedCustomer.id, MonSharedCustomer.engine_customer_id).where(
                MonSharedCustomer.id.in_(list(shared_ids))
            )
        )
    }
    calls = _Calls(svc, session)
    sent = quantity = 0
    with session.no_autoflush:  # one flush at commit, not one per engine call
        for row in rows:
            customer = customers.get(row.shared_customer_id) if row.shared_customer_id else None
            n, q = _send_one(svc, calls, row, records.get(row.id, []), customer, until)
            sent, quantity = sent + n, quantity + q
    return sent, quantity


def _send(
    svc: MonetizationService,
    factory: sessionmaker[Session],
    ids: Sequence[str],
    until: datetime,
    result: PublishResult,
) -> None:
    """Phase 2: all in one transaction; on a failure, one transaction per subscription."""
    if not ids:
        return
    try:
        with transaction(factory) as session:
            sent, quantity = _send_in(svc, session, ids, until)
        result.published += len(ids)
        result.records += sent
        result.calls += quantity
        return
    except Exception:
        log.info("publishing a batch failed; retrying its subscriptions one by one")
    for mon_id in ids:
        try:
            with transaction(factory) as session:
                sent, quantity = _send_in(svc, session, [mon_id], until)
            result.published += 1
            result.records += sent
            result.calls += quantity
        except Exception as exc:
            result.failed += 1
            result.errors.append(f"subscription {mon_id}: {exc}")
            log.warning("usage of monetized subscription %s not published: %s", mon_id, exc)


def publish_batch(
    svc: MonetizationService,
    factory: sessionmaker[Session],
    ids: Sequence[str],
    until: datetime,
    result: PublishResult,
) -> None:
    with transaction(factory) as session:
        rows = list(session.scalars(select(MonSubscription).where(MonSubscription.id.in_(list(ids)))))
        to_send = _plan(session, rows, until, late_window(svc), result)
    _send(svc, factory, sorted(to_send), until, result)


def publish_all(
    svc: MonetizationService,
    factory: sessionmaker[Session],
    *,
    now: datetime | None = None,
    on_total: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    heartbeat: Callable[[], None] | None = None,
    drain: bool = False,
) -> PublishResult:
    """Publish every metered subscription's usage. The caller holds the lock.

    With ``drain`` (jobs) up to ``now`` (default: this moment), once the usage of calls answered
    before it is stored (:func:`wait_for_stored`); without, up to ``now - SETTLE``."""
    if drain:
        until = now or utcnow()
        # A writer with nothing to store looks every flush_interval: two of its passes at least.
        quiet = max(DRAIN_QUIET, 2 * svc.settings.metering.flush_interval + 0.1)
        limit = max(DRAIN_LIMIT, timedelta(seconds=quiet + 1))
        waited = wait_for_stored(factory, until, quiet=quiet, limit=limit)
    else:
        until, waited = publish_until(now), 0.0
    result = PublishResult(until=until, waited=waited)
    with factory() as session:
        ids = _metered_ids(session, svc.engine_name, late_window(svc))
    result.subscriptions = len(ids)
    if on_total is not None:
        on_total(len(ids))
    for offset in range(0, len(ids), BATCH):
        batch = ids[offset : offset + BATCH]
        try:
            publish_batch(svc, factory, batch, until, result)
        except Exception as exc:  # the plan phase failed (database trouble): count and go on
            result.failed += len(batch)
            result.errors.append(f"batch at {offset}: {exc}")
            log.exception("planning a usage batch failed")
        if progress is not None:
            progress(len(batch))
        if heartbeat is not None:
            heartbeat()
    return result


def publish_subscription(
    svc: MonetizationService, factory: sessionmaker[Session], mon_id: str, until: datetime
) -> bool:
    """Publish one subscription up to ``until`` (used when ending it); True if nothing is left."""
    result = PublishResult(until=until)
    publish_batch(svc, factory, [mon_id], until, result)
    return result.failed == 0
