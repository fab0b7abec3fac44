"""Usage-publishing jobs: one at a time across processes, recorded in ``usage_publish_jobs``.

The REST endpoint, the scheduler and ``tollway publish-usage`` all go through here, so they
share one database lock (``job_locks`` row ``usage-publisher``): while a job runs anywhere,
another start is refused (the endpoint answers 409).

A job publishes the calls answered before the moment it was asked for (its ``started_at``, the
status document's ``startedTime``): it first waits, a fraction of a second and at most a few
seconds, until the gateways' spool writers have stored their usage
(:func:`tollway.publishing.usage_publisher.wait_for_stored`); a successful job's cut-off becomes
``lastPublishedTime``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.models import UsagePublishJob
from tollway.monetization.service import MonetizationService
from tollway.publishing import locks
from tollway.publishing.usage_publisher import Progress, PublishResult, publish_all

log = logging.getLogger(__name__)

LOCK = "usage-publisher"
LEASE = timedelta(minutes=10)


class JobBusy(Exception):
    """A usage-publishing job is already running (here or in another process)."""


class Job:
    """A started job: the caller runs it (``run``) in the foreground or a thread."""

    def __init__(
        self,
        svc: MonetizationService,
        factory: sessionmaker[Session],
        job_id: str,
        holder: str,
        started_at: datetime | None = None,
    ) -> None:
        self.svc, self.factory, self.id, self.holder = svc, factory, job_id, holder
        # The cut-off: the run publishes the calls answered before the job was asked for.
        self.started_at = started_at or utcnow()

    def _update(self, **values: Any) -> None:
        with transaction(self.factory) as session:
            session.execute(update(UsagePublishJob).where(UsagePublishJob.id == self.id).values(**values))

    def run(
        self, *, on_total: Callable[[int], None] | None = None, progress: Progress | None = None
    ) -> PublishResult | None:
        done = 0

        def count(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(n)

        def heartbeat() -> None:
            locks.renew(self.factory, LOCK, self.holder, LEASE)
            self._update(done=done)

        def total(n: int) -> None:
            self._update(total=n)
            if on_total is not None:
                on_total(n)

        try:
            self._update(state="RUNNING")
            result = publish_all(
                self.svc,
                self.factory,
                now=self.started_at,
                drain=True,
                on_total=total,
                progress=count,
                heartbeat=heartbeat,
            )
        except Exception as exc:
            log.exception("usage-publishing job %s failed", self.id)
            self._update(state="COMPLETED", status="FAILED", finished_at=utcnow(), error=str(exc)[:2000])
            return None
        finally:
            locks.release(self.factory, LOCK, self.holder)
        self._update(
            state="COMPLETED",
            status="SUCCESSFUL" if result.failed == 0 else "FAILED",
            finished_at=utcnow(),
            published_until=result.until,
            done=result.published,
            failed=result.failed,
            error="\n".join(result.errors[:20])[:2000] or None,
        )
        return result


def _record(session: Session, trigger: str) -> tuple[str, datetime]:
    """A new job row (state INITIATED); its id, once flushed, and its start (the run's cut-off)."""
    # Jobs of a process that died with the lock never finished: say so.
    session.execute(
        update(UsagePublishJob)
        .where(UsagePublishJob.state != "COMPLETED")
        .values(state="COMPLETED", status="FAILED", error="interrupted", finished_at=utcnow())
    )
    job = UsagePublishJob(state="INITIATED", status="INPROGRESS", trigger=trigger, started_at=utcnow())
    session.add(job)
    session.flush()
    return job.id, job.started_at


def start(
    svc: MonetizationService, factory: sessionmaker[Session], trigger: str, session: Session | None = None
) -> Job:
    """Take the lock and record a new job (state INITIATED); JobBusy if one is running.

    Never waits for the lock: a running job is seen from one read and refused at once. With
    ``session`` (a request's, say) all of it goes through that session, one pooled connection:
    the session's transaction so far is committed first unless the lock is seen held, and the
    lock and the job row are committed before this returns. Without, sessions of ``factory``
    are used one after the other (never two connections at once)."""
    if session is None:
        with factory() as own:
            return start(svc, factory, trigger, own)
    holder = locks.new_holder()
    if not locks.acquire_in(session, LOCK, holder, LEASE):
        raise JobBusy
    try:
        job_id, started_at = _record(session, trigger)
        session.commit()
    except BaseException:
        session.rollback()
        locks.release_in(session, LOCK, holder)
        raise
    return Job(svc, factory, job_id, holder, started_at)


def start_in_background(
    svc: MonetizationService, factory: sessionmaker[Session], trigger: str, session: Session | None = None
) -> str:
    """``start``, then run the job in a thread of its own (which uses sessions of ``factory``)."""
    job = start(svc, factory, trigger, session)
    threading.Thread(target=job.run, name=f"usage-publisher-{job.id[:8]}", daemon=True).start()
    return job.id


def history(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The newest jobs: when, by what, how it ended, how many subscriptions were published or failed."""
    rows = session.scalars(select(UsagePublishJob).order_by(UsagePublishJob.started_at.desc()).limit(limit))
    return [
        {
            "startedAt": job.started_at,
            "finishedAt": job.finished_at,
            "trigger": job.trigger,
            "state": job.state,
            "status": job.status,
            "publishedUntil": job.published_until,
            "published": job.done,
            "failed": job.failed,
            "error": (job.error or "").splitlines()[0] if job.error else "",
        }
        for job in rows
    ]


def _epoch_ms(moment: datetime | None) -> str:
    return str(int(moment.timestamp() * 1000)) if moment else "0"


def status(session: Session) -> dict[str, str]:
    """WSO2's status document (``lastPublsihedTime``, misspelt, is kept for WSO2's clients).

    ``lastPublishedTime`` is the cut-off of the last successful job: its calls answered before
    that moment are published. A job's cut-off is its ``startedTime`` (the moment it was asked
    for), so after a successful run the two are equal."""
    latest = session.scalar(select(UsagePublishJob).order_by(UsagePublishJob.started_at.desc()).limit(1))
    published = session.scalar(
        select(UsagePublishJob.published_until)
        .where(UsagePublishJob.status == "SUCCESSFUL", UsagePublishJob.published_until.is_not(None))
        .order_by(UsagePublishJob.started_at.desc())
        .limit(1)
    )
    last = _epoch_ms(published)
    if latest is None:  # a fresh instance: nothing to do, nothing running (WSO2 answers the same)
        return {
            "state": "COMPLETED",
            "status": "SUCCESSFUL",
            "startedTime": "0",
            "lastPublishedTime": last,
            "lastPublsihedTime": last,
        }
    return {
        "state": latest.state,
        "status": latest.status,
        "startedTime": _epoch_ms(latest.started_at),
        "lastPublishedTime": last,
        "lastPublsihedTime": last,
    }
