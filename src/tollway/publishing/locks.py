"""Named locks in the database (``job_locks``): one job of a kind at a time across processes.

A lock is a row; taking it is one conditional UPDATE (free, or its holder's lease expired), so
two processes racing for it cannot both win. The holder renews the lease while it works; a
holder that dies simply lets the lease run out.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.models import JobLock


def new_holder() -> str:
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _ensure_row(factory: sessionmaker[Session], name: str) -> None:
    with factory() as session:
        if session.scalar(select(JobLock.name).where(JobLock.name == name)) is not None:
            return
    try:
        with transaction(factory) as session:
            session.add(JobLock(name=name))
    except IntegrityError:
        pass  # another process made it first


def acquire(factory: sessionmaker[Session], name: str, holder: str, ttl: timedelta) -> bool:
    """Take the lock for ``ttl`` unless someone else holds a live lease."""
    _ensure_row(factory, name)
    now = utcnow()
    with transaction(factory) as session:
        result = session.execute(
            update(JobLock)
            .where(JobLock.name == name, or_(JobLock.holder.is_(None), JobLock.expires_at < now))
            .values(holder=holder, acquired_at=now, expires_at=now + ttl)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


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


def release(factory: sessionmaker[Session], name: str, holder: str) -> None:
    with transaction(factory) as session:
        session.execute(
            update(JobLock)
            .where(JobLock.name == name, JobLock.holder == holder)
            .values(holder=None, expires_at=None)
            .execution_options(synchronize_session=False)
        )


def is_held(factory: sessionmaker[Session], name: str) -> bool:
    with factory() as session:
        row = session.get(JobLock, name)
        return bool(row and row.holder and row.expires_at and row.expires_at > utcnow())
