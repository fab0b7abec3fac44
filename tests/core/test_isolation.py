"""The suite gives the same results wherever it is started from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
from tollway.config import Settings, cores


def test_probe(settings: Settings) -> None:
    assert settings.monetization.publish_interval == 3600
    assert settings.gateway.workers == cores()  # the default, "auto", not the variable's 63
"""


def test_a_tollway_toml_and_tollway_variables_where_pytest_runs_change_nothing(tmp_path: Path) -> None:
    (tmp_path / "tollway.toml").write_text("[monetization]\npublish_interval = 7\n", encoding="utf-8")
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "TOLLWAY_TEST_DATABASES": "sqlite",
        "TOLLWAY_GATEWAY__WORKERS": "63",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            # A folder of its own: a pytest session started beside this one would otherwise clear
            # this session's numbered temporary folders, databases included.
            "--basetemp",
            str(tmp_path / "basetemp"),
            "--rootdir",
            str(tmp_path),
            "test_probe.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
