"""Shared fixtures: throwaway databases per backend, a migrated runtime, a live control plane."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Table, delete, insert, select

from tests.support.databases import selected_backends, throwaway_database
from tests.support.servers import ServerThread
from tollway.bootstrap import ensure_default_tenant
from tollway.config import Settings, load_settings
from tollway.db import migrate
from tollway.db.base import Base
from tollway.db.session import make_engine, transaction
from tollway.runtime import Runtime
from tollway.web.app import create_app
from tollway.wiring import create_runtime

BACKENDS = selected_backends()


@pytest.fixture(scope="session", autouse=True)
def apart_from_the_developers_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A tollway.toml in the folder pytest runs from, or a TOLLWAY_* variable of the developer's
    shell, must not change what the tests see: tests run in an empty folder, without them
    (TOLLWAY_TEST_* choose the test databases and stay)."""
    patch = pytest.MonkeyPatch()
    patch.chdir(tmp_path_factory.mktemp("cwd"))
    for name in list(os.environ):
        if name.startswith("TOLLWAY_") and not name.startswith("TOLLWAY_TEST_"):
            patch.delenv(name)
    yield
    patch.undo()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated throwaway database per selected backend (tests using it run on each)."""
    with throwaway_database(request.param, tmp_path_factory.mktemp("db")) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={"server": {"data_dir": str(tmp_path / "data")}, "database": {"url": database_url}},
    )


# The rows of a freshly bootstrapped database (default tenant, admin, default plans), per database:
# made once through the real bootstrap, then copied back before each test instead of hashing the
# admin's password again (argon2, ~0.1-0.4 s a test).
_BOOTSTRAPPED: dict[str, list[tuple[Table, list[dict[str, Any]]]]] = {}


def _wipe(conn: Connection) -> None:
    for table in reversed(Base.metadata.sorted_tables):
        conn.execute(delete(table))


def _fresh_instance(runtime: Runtime) -> None:
    """Empty every table, then put the default tenant, its admin and plans back."""
    url = runtime.settings.database_url
    rows = _BOOTSTRAPPED.get(url)
    if rows is None:
        with runtime.engine.begin() as conn:
            _wipe(conn)
        with transaction(runtime.session_factory) as session:
            ensure_default_tenant(session, "127.0.0.1")
        with runtime.engine.connect() as conn:
            tables = [
                (t, [dict(r._mapping) for r in conn.execute(select(t))]) for t in Base.metadata.sorted_tables
            ]
        _BOOTSTRAPPED[url] = [(table, found) for table, found in tables if found]
        return
    with runtime.engine.begin() as conn:
        _wipe(conn)
        for table, found in rows:
            conn.execute(insert(table), found)


@pytest.fixture
def runtime(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A runtime on an emptied database with the default tenant and admin (password 'admin')."""
    monkeypatch.setenv("TOLLWAY_ADMIN_PASSWORD", "admin")
    rt = create_runtime(settings)
    _fresh_instance(rt)
    yield rt
    rt.close()


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[ServerThread]:
    """The control plane over real HTTP on loopback."""
    with ServerThread(create_app(runtime)) as server:
        yield server
