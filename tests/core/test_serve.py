"""`tollway serve` on the embedded default: health, restart reusing data, clean stop, bad config."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port

TOLLWAY = [sys.executable, "-m", "tollway"]


def start(
    tmp_path: Path, port: int, *extra: str, env: dict[str, str] | None = None, https_port: int = 0
) -> subprocess.Popen[bytes]:
    """``tollway serve`` with its plain-HTTP control plane on ``port`` (what these tests call);
    every other port is a free one too (HTTPS on ``https_port`` when given)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    environ.update(env or {})
    return subprocess.Popen(
        [
            *TOLLWAY,
            "serve",
            "--http-port",
            str(port),
            "--port",
            str(https_port or free_port()),
            "--gateway-port",
            str(free_port()),
            "--gateway-https-port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "data"),
            *extra,
        ],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(port: int, proc: subprocess.Popen[bytes], limit: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < limit:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return time.monotonic() - began
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"/health did not answer within {limit}s")


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode()
    return out.decode()


def test_serve_answers_health_within_5_seconds_and_restarts_on_the_same_data(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port)
    try:
        wait_healthy(port, proc, 5.0)
    finally:
        first_log = stop(proc)
    assert "default password" in first_log  # the loopback-only default admin is announced
    db = tmp_path / "data" / "tollway.db"
    key = (tmp_path / "data" / "master.key").read_bytes()
    certificate = (tmp_path / "data" / "tls-cert.pem").read_bytes()
    assert "TLS certificate generated (self-signed)" in first_log
    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT id FROM tenants WHERE domain='carbon.super'").fetchall()

    proc = start(tmp_path, port)
    try:
        wait_healthy(port, proc, 5.0)
    finally:
        second_log = stop(proc)
    assert "TLS certificate (self-signed)" in second_log  # kept, not made again
    assert (tmp_path / "data" / "tls-cert.pem").read_bytes() == certificate
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id FROM tenants WHERE domain='carbon.super'").fetchall() == first
        assert conn.execute("SELECT count(*) FROM users WHERE username='admin'").fetchone() == (1,)
    assert (tmp_path / "data" / "master.key").read_bytes() == key


def test_bad_config_value_stops_start_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "tollway.toml").write_text("[gateway]\nbackend_timeout = 'soon'\n")
    proc = start(tmp_path, free_port())
    out, _ = proc.communicate(timeout=20)
    text = out.decode()
    assert proc.returncode != 0
    assert "tollway.toml: [gateway] backend_timeout" in text
    assert "Traceback" not in text


def test_default_admin_password_refused_off_loopback(tmp_path: Path) -> None:
    proc = start(tmp_path, free_port(), "--host", "0.0.0.0")
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert "TOLLWAY_ADMIN_PASSWORD must be set" in out.decode()
    assert "Traceback" not in out.decode()


def test_db_downgrade_and_upgrade_commands(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    data = str(tmp_path / "data")
    up = subprocess.run(
        [*TOLLWAY, "db", "upgrade", "--data-dir", data], env=env, capture_output=True, text=True
    )
    assert up.returncode == 0 and re.fullmatch(r"database at revision \d{4}\n", up.stdout), up.stderr
    down = subprocess.run(
        [*TOLLWAY, "db", "downgrade", "--revision", "base", "--data-dir", data],
        env=env,
        capture_output=True,
        text=True,
    )
    assert down.returncode == 0 and "database at revision base" in down.stdout, down.stderr
