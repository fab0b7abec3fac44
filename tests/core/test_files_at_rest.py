"""What Tollway writes to its data folder is readable by its own user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tollway.bootstrap import ensure_default_tenant
from tollway.config import load_settings
from tollway.db import migrate
from tollway.db.session import make_engine, transaction
from tollway.wiring import create_runtime


def _modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_the_database_the_master_key_and_their_folder_are_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOLLWAY_ADMIN_PASSWORD", "admin")
    data = tmp_path / "data"
    settings = load_settings(None, environ={}, overrides={"server": {"data_dir": str(data)}})
    usual = os.umask(0o022)  # a usual umask must not matter
    runtime = create_runtime(settings)
    try:
        migrate.upgrade(runtime.engine)
        with transaction(runtime.session_factory) as session:
            ensure_default_tenant(session, "127.0.0.1")
        modes = _modes(data)
    finally:
        runtime.close()
        os.umask(usual)
    assert {"tollway.db", "master.key"} <= set(modes)
    assert modes["."] == 0o700
    assert {name: mode for name, mode in modes.items() if mode & 0o077} == {}


def test_a_database_made_readable_by_others_is_made_private_at_start(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch()
    path.chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
