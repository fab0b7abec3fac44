#!/usr/bin/env python3
"""Install Tollway with its test tools into .venv and run lint, types, import contracts and the whole
test suite.

Usage: python3 scripts/test.py [pytest args...]
With CI=true the tests also run on PostgreSQL and MariaDB (see tests/support/databases.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


def run(*cmd: str) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def ensure_chromium() -> None:
    """The portal tests drive Debian's Chromium; install it when missing and we are allowed to."""
    if shutil.which("chromium") or Path("/usr/bin/chromium").exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env)


def main() -> int:
    if not (BIN / "python").exists():
        run(sys.executable, "-m", "venv", str(VENV))
    run(str(BIN / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip")
    run(str(BIN / "python"), "-m", "pip", "install", "-q", "-e", ".[dev]")
    ensure_chromium()
    run(str(BIN / "ruff"), "check", "src", "tests", "bench")
    run(str(BIN / "ruff"), "format", "--check", "src", "tests", "bench")
    run(str(BIN / "mypy"), "--strict", "src")
    run(str(BIN / "lint-imports"))
    args = sys.argv[1:]
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) or a == "no:xdist" for a in args):
        # Test processes side by side (pytest-xdist); each has its own throwaway databases.
        args = ["-n", str(min(os.cpu_count() or 1, 4)), *args]
    pytest = subprocess.run([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT)
    return pytest.returncode


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        print(f"failed: {' '.join(map(str, exc.cmd))} (exit {exc.returncode})", file=sys.stderr)
        sys.exit(exc.returncode or 1)
