"""`tollway demo` runs the whole scenario from a clean folder and says what it did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_manual_end_to_end(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    done = subprocess.run(
        [sys.executable, "-m", "tollway", "demo"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for step in (
        "Step 1 - business plan",
        "Step 2 - monetize",
        "Step 3 - subscribe",
        "Step 4 - publish usage",
    ):
        assert step in out
    assert "Billable requests: 250 x 0.004 = 1.00 USD" in out
    assert '"total": "1.00", "currency": "USD"' in out
    assert "invoice total still 1.00 USD" in out
    assert "Done: every step worked." in out
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the working folder


def test_demo_keeps_its_data_when_asked(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    done = subprocess.run(
        [sys.executable, "-m", "tollway", "demo", "--data-dir", str(tmp_path / "kept")],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "kept" / "tollway.db").is_file()
