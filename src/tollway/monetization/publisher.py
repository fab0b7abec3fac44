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

``until`` is ``now - SETTLE``: the gateway writes usage in batches every few milliseconds, and the
short delay lets calls that just finished reach the database before their window is closed.
Calls are counted from ``usage_rollups`` for whole hours and ``usage_events`` at the edges
(:mod:`tollway.monetization.usage_windows`, a batch of windows per query), so windows of any
length are exact.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.models import MonSharedCustomer, MonSubscription, UsagePublishRecord
from tollway.monetization.context import subscription_ref, tenant_context
from tollway.monetization.engine import EngineCall, TenantContext, UsageRecord
from tollway.monetization.periods import split_window
from tollway.monetization.service import MonetizationService
from tollway.monetization.subscribing import LIVE
from tollway.monetization.usage_windows import Window, billable_counts

log = logging.getLogger(__name__)

SETTLE = timedelta(seconds=2)
BATCH = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

Progress = Callable[[int], None]


@dataclass
class PublishResult:
    until: datetime
    subscriptions: int = 0
    published: int = 0  # subscriptions whose usage reached the engine (or had none to send)
    failed: int = 0
    records: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)


def usage_key(mon_subscription_id: str, start: datetime, end: datetime) -> str:
    return f"usage:{mon_subscription_id}:{(start - _EPOCH) // _MICRO}:{(end - _EPOCH) // _MICRO}"


def publish_until(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - SETTLE


def metered_rows_query(engine_name: str) -> object:
    return (
        select(MonSubscription.id)
        .where(
            MonSubscription.engine == engine_name,
            MonSubscription.plan_type == "DynamicRate",
            MonSubscription.status.in_(LIVE),
            or_(
                MonSubscription.canceled_at.is_(None),
                MonSubscription.usage_published_until.is_(None),
                MonSubscription.usage_published_until < MonSubscription.canceled_at,
            ),
        )
        .order_by(MonSubscription.id)
    )


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


def _plan(
    session: Session, rows: Sequence[MonSubscription], until: datetime, result: PublishResult
) -> set[str]:
    """Phase 1: pending records for new usage; watermarks of subscriptions without usage move.

    Returns the ids of the subscriptions that have records to send.
    """
    ids = [row.id for row in rows]
    pending_end: dict[str, datetime] = {}
    for mon_id, end in session.execute(
        select(UsagePublishRecord.mon_subscription_id, UsagePublishRecord.window_end).where(
            UsagePublishRecord.mon_subscription_id.in_(ids), UsagePublishRecord.state == "pending"
        )
    ):
        pending_end[mon_id] = max(end, pending_end.get(mon_id, end))

    windows: list[Window] = []
    owners: list[tuple[MonSubscription, datetime, datetime]] = []
    targets: dict[str, datetime] = {}
    for row in rows:
        start = max(row.usage_published_until or row.started_at, pending_end.get(row.id, row.started_at))
        end = min(until, row.canceled_at) if row.canceled_at else until
        if end <= start:
            continue
        targets[row.id] = end
        if row.subscription_id is None:
            continue  # no usage can be attributed to it
        for piece_start, piece_end in split_window(row.started_at, row.billing_cycle, start, end):
            windows.append((row.subscription_id, piece_start, piece_end))
            owners.append((row, piece_start, piece_end))

    to_send = set(pending_end)
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
    limit = min(until, row.canceled_at) if row.canceled_at else until
    # The plan phase covered [watermark, limit): pieces without a record had no billable calls.
    row.usage_published_until = max(end, limit)
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
        to_send = _plan(session, rows, until, result)
    _send(svc, factory, sorted(to_send), until, result)


def publish_all(
    svc: MonetizationService,
    factory: sessionmaker[Session],
    *,
    now: datetime | None = None,
    on_total: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> PublishResult:
    """Publish every metered subscription's usage up to ``now - SETTLE``. The caller holds the lock."""
    until = publish_until(now)
    result = PublishResult(until=until)
    with factory() as session:
        ids: list[str] = list(session.scalars(metered_rows_query(svc.engine_name)))  # type: ignore[call-overload]
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
