"""Migrations run up and down cleanly, and the models agree with them, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import tollway.models  # noqa: F401
from tests.support.databases import selected_backends, throwaway_database
from tollway.db import migrate
from tollway.db.base import Base
from tollway.db.session import make_engine


@pytest.mark.parametrize("backend", selected_backends())
def test_upgrade_compare_downgrade_upgrade(backend: str, tmp_path: Path) -> None:
    with throwaway_database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                assert {t.name for t in Base.metadata.sorted_tables} <= tables
                diff = compare_metadata(
                    MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
                )
            assert diff == [], f"models and migrations disagree on {backend}: {diff}"

            migrate.downgrade(engine, "base")
            with engine.connect() as conn:
                assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            assert migrate.current_revision(engine) is None

            migrate.upgrade(engine)
            assert migrate.current_revision(engine) is not None
        finally:
            engine.dispose()


def test_constraint_names_are_deterministic_and_fit_every_backend() -> None:
    for table in Base.metadata.sorted_tables:
        for item in [*table.constraints, *table.indexes]:
            name = str(item.name)
            assert name.split("_")[0] in {"pk", "fk", "uq", "ix", "ck"}, name
            assert len(name) <= 63, name  # PostgreSQL's limit; MariaDB allows 64
