"""Throwaway databases for the test run: SQLite always; PostgreSQL and MariaDB under CI or on request.

``TOLLWAY_TEST_DATABASES=sqlite,postgresql,mariadb`` chooses the backends; with ``CI=true`` all
three are required and an unreachable server fails the run (never a skip).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVER_URLS = {
    "postgresql": os.environ.get(
        "TOLLWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get("TOLLWAY_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql"),
}


def selected_backends() -> list[str]:
    named = os.environ.get("TOLLWAY_TEST_DATABASES", "")
    if named.strip():
        chosen = [b.strip().lower() for b in named.split(",") if b.strip()]
        unknown = sorted(set(chosen) - set(ALL_BACKENDS))
        if unknown:
            raise RuntimeError(f"TOLLWAY_TEST_DATABASES names unknown backends: {unknown}")
        return chosen
    if os.environ.get("CI", "").lower() == "true":
        return list(ALL_BACKENDS)
    return ["sqlite"]


@contextmanager
def throwaway_database(backend: str, workdir: Path) -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards."""
    if backend == "sqlite":
        path = workdir / f"tollway-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        return
    server = make_url(SERVER_URLS[backend])
    name = f"tollway_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if backend == "mariadb":
                conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
            else:
                conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        admin.dispose()
        raise RuntimeError(
            f"{backend} test server at {server.render_as_string()} is unreachable: {exc}"
        ) from exc
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                    {"n": name},
                )
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
