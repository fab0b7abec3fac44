"""Named locks in the database (``job_locks``): one job of a kind at a time across processes.

A lock is a row; taking it is one conditional UPDATE (free, or its holder's lease expired), so
two processes racing for it cannot both win. The holder renews the lease while it works; a
holder that dies simply lets the lease run out.

Taking a lock never waits for it: a lock seen held answers False at once, from one read. Each
function works through one session, one connection at a time, in short transactions of its own
(``*_in`` take the caller's session, e.g. a request's, so that it needs no second connection:
a caller holding a pooled connection while it waits for another could starve the pool).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.models import JobLock

Lease = tuple[str | None, datetime | None]  # (holder, expires_at) of an existing row


def new_holder() -> str:
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _lease(session: Session, name: str) -> Lease | None:
    """The lock's holder and expiry as stored (not the identity map's); None without its row."""
    row = session.execute(select(JobLock.holder, JobLock.expires_at).where(JobLock.name == name)).first()
    return None if row is None else (row[0], row[1])


def _live(lease: Lease | None, now: datetime) -> bool:
    if lease is None:
        return False
    holder, expires_at = lease
    return bool(holder and expires_at and expires_at > now)


def acquire_in(session: Session, name: str, holder: str, ttl: timedelta) -> bool:
    """Take the lock for ``ttl`` through ``session`` unless someone else holds a live lease.

    Seen held (one read, in the session's current transaction): False at once, nothing written,
    the transaction left to its owner. Otherwise the session's transaction is committed first
    (what the caller did so far is done) and the lock is taken in a short transaction of its own,
    committed before this returns; the conditional UPDATE decides between racing takers."""
    lease = _lease(session, name)
    if _live(lease, utcnow()):
        return False
    session.commit()
    if lease is None:
        try:
            session.add(JobLock(name=name))
            session.commit()
        except IntegrityError:
            session.rollback()  # another process made it first
    now = utcnow()
    try:
        result = session.execute(
            update(JobLock)
            .where(JobLock.name == name, or_(JobLock.holder.is_(None), JobLock.expires_at < now))
            .values(holder=holder, acquired_at=now, expires_at=now + ttl)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def acquire(factory: sessionmaker[Session], name: str, holder: str, ttl: timedelta) -> bool:
    """Take the lock for ``ttl`` unless someone else holds a live lease."""
    with factory() as session:
        return acquire_in(session, name, holder, ttl)


def renew(factory: sessionmaker[Session], name: str, holder: str, ttl: timedelta) -> bool:
    """Extend the lease; False if it was lost (expired and taken by someone else)."""
    with transaction(factory) as session:
        result = session.execute(
            update(JobLock)
            .where(JobLock.name == name, JobLock.holder == holder)
            .values(expires_at=utcnow() + ttl)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release_in(session: Session, name: str, holder: str) -> None:
    """Give the lock up through ``session`` (committed: the session's pending work too)."""
    try:
        session.execute(
            update(JobLock)
            .where(JobLock.name == name, JobLock.holder == holder)
            .values(holder=None, expires_at=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise


def release(factory: sessionmaker[Session], name: str, holder: str) -> None:
    with factory() as session:
        release_in(session, name, holder)


def is_held(factory: sessionmaker[Session], name: str) -> bool:
    with factory() as session:
        return _live(_lease(session, name), utcnow())
