"""Gateway nodes and meters use the control plane's database: on one without Tollway's schema they
stop at once, saying what to run, and create nothing in it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port


@pytest.mark.parametrize("command", ["gateway", "meter"])
def test_a_node_or_meter_refuses_a_database_without_the_schema(tmp_path: Path, command: str) -> None:
    database = tmp_path / "empty.db"
    config = tmp_path / "tollway.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    argv = [sys.executable, "-m", "tollway", command, "--config", str(config)]
    argv += ["--data-dir", str(tmp_path / "d")]
    if command == "gateway":
        argv += ["--port", str(free_port()), "--https-port", str(free_port())]
    done = subprocess.run(
        argv,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "no Tollway schema yet" in done.stderr and "tollway db upgrade" in done.stderr, done.stderr
    tables = sqlite3.connect(database).execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    assert tables.fetchall() == []
