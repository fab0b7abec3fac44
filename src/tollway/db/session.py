"""Engine and session factory; post-commit side effects.

One request = one transaction, owned by the caller (the request dependency or a job). Services
flush and never commit. Side effects that must not happen if the transaction rolls back (billing
engine calls, snapshot invalidation) are queued with :func:`after_commit` and run once it commits.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

PostCommit = Callable[[], None]


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True, pool_recycle=1800)
        if backend in ("mysql", "mariadb"):
            kwargs["connect_args"] = {"charset": "utf8mb4"}
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        _private_file(Path(parsed.database))
    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        _tune_sqlite(engine)
    return engine


def _private_file(path: Path) -> None:
    """The SQLite database holds every tenant's data: owner-only (0600), its -wal and -shm too
    (SQLite gives them the database file's mode). Also tightens a file made before this rule."""
    if not path.parent.is_dir():
        return  # SQLite itself says the folder is missing
    # Only create it: opening (and closing) an existing database file here would drop the POSIX
    # locks SQLite holds on it in this process (a descriptor's close releases them all).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists() and candidate.stat().st_mode & 0o077:
            candidate.chmod(0o600)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # WAL lets the gateway's metering writes and the control plane's reads run side by side.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def after_commit(session: Session, fn: PostCommit) -> None:
    """Run ``fn`` after the session's transaction commits (dropped on rollback)."""
    session.info.setdefault("post_commit", []).append(fn)


def run_post_commit(session: Session) -> None:
    pending: list[PostCommit] = session.info.pop("post_commit", [])
    for fn in pending:
        try:
            fn()
        except Exception:
            # The transaction is already durable; a failed side effect is logged and left to
            # its own retry mechanism (outbox / next publish run), never surfaced as a 500.
            log.exception("post-commit action %s failed", getattr(fn, "__qualname__", fn))


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error, then run post-commit actions."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop("post_commit", None)
        raise
    finally:
        session.close()
    run_post_commit(session)
