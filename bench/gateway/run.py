"""Gateway benchmark: the backend alone, nginx proxy_pass, and Tollway's gateway, side by side.

    .venv/bin/python -m bench.gateway.run [--duration 10] [--workers 2] [--profile]

One run, one machine, the same wrk settings for every target (2 threads, 32 connections,
``--duration`` seconds, after a short warm-up):

- (a) the backend directly: nginx answering ``return 200`` on loopback (1 worker process);
- (b) nginx as a reverse proxy to it (``proxy_pass`` with a keep-alive upstream pool);
- (c) ``tollway gateway`` (``--workers`` processes) to it, with a valid bearer token, a
  subscription whose plan has a quota and a burst limit far above the load (so the limiter runs
  but never refuses), and metering on (every request stored in SQLite with its rollup).

Then the latency at half of Tollway's measured throughput: wrk has no fixed-rate mode (wrk2 is
not packaged), so each connection waits ``delay()`` = 2 ms between requests (a Lua script) and the
number of connections sets the rate (rate ~ connections / (2 ms + latency)); short runs find the
number at which Tollway serves half its throughput. The same connections go to all three
targets; "added p99" is Tollway's p99 minus the backend's.

Results go to bench/results/gateway-<date>.json and .md. Loopback only; every process this
script starts is stopped when it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
WRK_THREADS = 2
WRK_CONNECTIONS = 32
HALF_LOAD_DELAY_MS = 2
MAX_HALF_LOAD_CONNECTIONS = 512


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


# ------------------------------------------------------------------------------------------ nginx


NGINX_COMMON = """
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_processes {workers};
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 10000000;
  {body}
}}
"""

BACKEND = """
  server {{
    listen 127.0.0.1:{port} reuseport;
    location / {{ default_type text/plain; return 200 "hello from the backend\\n"; }}
  }}
"""

PROXY = """
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} reuseport;
    location /bench/1.0.0/ {{
      proxy_pass http://backend/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
"""


def start_nginx(stack: ExitStack, work: Path, name: str, body: str, workers: int) -> None:
    folder = work / name
    folder.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_COMMON.format(dir=folder, workers=workers, body=body))
    proc = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------- tollway


def seed(database_url: str, backend_url: str) -> str:
    """One API, plan, application, token and subscription; returns the bearer token."""
    from tollway.bootstrap import ensure_default_tenant
    from tollway.db import migrate
    from tollway.db.session import make_engine, make_session_factory, transaction
    from tollway.identity.tokens import create_client, issue_tokens
    from tollway.models import Api, Application, Subscription, SubscriptionPolicy
    from tollway.models.changes import mark_gateway_config_changed

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        tenant = ensure_default_tenant(session, "127.0.0.1")
        from tollway.models import User

        admin = session.query(User).filter_by(tenant_id=tenant.id, username="admin").one()
        # Limits far above any load this machine can produce: checked on every call, never hit.
        policy = SubscriptionPolicy(
            tenant_id=tenant.id,
            name="Bench",
            request_count=10**12,
            time_unit="min",
            unit_time=1,
            rate_limit_count=10**9,
            rate_limit_time_unit="sec",
            stop_on_quota_reach=True,
            billing_plan="COMMERCIAL",
        )
        api = Api(
            tenant_id=tenant.id,
            name="bench",
            context="/bench",
            version="1.0.0",
            provider="admin",
            lifecycle_status="PUBLISHED",
            endpoint_config={"production_endpoints": {"url": backend_url}},
        )
        app = Application(tenant_id=tenant.id, owner_id=admin.id, name="bench-app")
        session.add_all([policy, api, app])
        session.flush()
        client, _ = create_client(
            session,
            tenant_id=tenant.id,
            client_name="bench",
            owner_id=admin.id,
            grant_types="client_credentials",
            application_id=app.id,
            key_type="PRODUCTION",
        )
        token = issue_tokens(
            session, client=client, user=None, scopes=frozenset(), access_ttl=86400, refresh_ttl=None
        ).access_token
        session.add(
            Subscription(tenant_id=tenant.id, application_id=app.id, api_id=api.id, policy_id=policy.id)
        )
        mark_gateway_config_changed(session)
    engine.dispose()
    return token


def start_tollway(stack: ExitStack, work: Path, port: int, workers: int, database_url: str) -> int:
    config = work / "tollway.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n' + os.environ.get("BENCH_EXTRA_TOML", ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    env["TOLLWAY_LOG_LEVEL"] = "WARNING"
    log = (work / "tollway.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tollway",
            "gateway",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--config",
            str(config),
            "--data-dir",
            str(work / "tollway-data"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack.callback(log.close)
    stack.callback(_stop, proc)
    return proc.pid


def count_events(database: Path) -> tuple[int, int]:
    with sqlite3.connect(database) as conn:
        events = conn.execute("SELECT count(*) FROM usage_events").fetchone()[0]
        rolled = conn.execute("SELECT coalesce(sum(total_count), 0) FROM usage_rollups").fetchone()[0]
    return int(events), int(rolled)


# -------------------------------------------------------------------------------------------- wrk

DELAY_SCRIPT = f"function delay() return {HALF_LOAD_DELAY_MS} end\n"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(
    url: str, duration: int, connections: int, headers: dict[str, str], script: Path | None = None
) -> dict[str, Any]:
    cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=duration + 60, check=True
    ).stdout
    result: dict[str, Any] = {"connections": connections, "duration_s": duration}
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.MULTILINE)
        result[f"p{pct}_ms"] = round(_ms(match.group(1)), 3) if match else None
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(errors.group(1)) if errors else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result["socket_errors"] = socket_errors.group(1) if socket_errors else ""
    return result


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": nginx,
        "wrk": wrk_version.strip(),
    }


# ------------------------------------------------------------------------------------------- main


def _show(name: str, result: dict[str, Any]) -> None:
    print(
        f"{name:18s} {result['rps']:>10.0f} req/s  p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms",
        flush=True,
    )


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds, with every round's figures beside it."""
    out = dict(runs[0])
    for key in ("rps", "p50_ms", "p75_ms", "p90_ms", "p99_ms"):
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = statistics.median(values) if values else None
    out["requests"] = sum(r["requests"] for r in runs)
    out["rounds_rps"] = [r["rps"] for r in runs]
    out["rounds_p99_ms"] = [r["p99_ms"] for r in runs]
    return out


def calibrate(target: tuple[str, dict[str, str]], rate: float, script: Path) -> int:
    """Connections at which Tollway, with ``delay()`` between requests, serves about ``rate``.

    Each connection makes 1 / (delay + latency) requests a second; the latency is Tollway's own,
    so the count is found by measuring (short runs, scaled towards the rate).
    """
    url, headers = target
    connections = max(2, round(rate * (HALF_LOAD_DELAY_MS + 0.5) / 1000))
    for _ in range(3):
        achieved = wrk(url, 3, connections, headers, script)["rps"]
        if abs(achieved - rate) <= 0.05 * rate:
            break
        connections = max(2, min(MAX_HALF_LOAD_CONNECTIONS, round(connections * rate / achieved)))
    return connections


def storage_lag(database: Path, limit: float = 120.0) -> dict[str, Any]:
    """Events stored when a run ends, and how long until the count stops growing (all stored)."""
    at_end = count_events(database)[0]
    began = last_change = time.monotonic()
    last = at_end
    while time.monotonic() - began < limit:
        time.sleep(0.1)
        now = count_events(database)[0]
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change >= 1.0:
            break
    return {"still_to_store": last - at_end, "stored_within_s": round(last_change - began, 2)}


def run(duration: int, workers: int, profile: bool, rounds: int) -> dict[str, Any]:
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install -y wrk nginx-light)")
    ports = {"backend": free_port(), "nginx": free_port(), "tollway": free_port()}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tollway-bench-")))
        start_nginx(stack, work, "backend", BACKEND.format(port=ports["backend"]), workers=1)
        start_nginx(
            stack, work, "proxy", PROXY.format(port=ports["nginx"], backend=ports["backend"]), workers=workers
        )
        database = work / "tollway.db"
        url = f"sqlite:///{database}"
        token = seed(url, f"http://127.0.0.1:{ports['backend']}/")
        tollway_pid = start_tollway(stack, work, ports["tollway"], workers, url)
        for port in ports.values():
            wait_port(port)
        time.sleep(1.0)  # workers load their snapshots
        targets = {
            "backend": (f"http://127.0.0.1:{ports['backend']}/", {}),
            "nginx": (f"http://127.0.0.1:{ports['nginx']}/bench/1.0.0/", {}),
            "tollway": (
                f"http://127.0.0.1:{ports['tollway']}/bench/1.0.0/",
                {"Authorization": f"Bearer {token}"},
            ),
        }
        for target, headers in targets.values():
            wrk(target, 2, WRK_CONNECTIONS, headers)  # warm-up: connections, pools, caches
        # Rounds alternate the targets, so a slow spell of the machine does not favour one of them;
        # each figure is the median of its rounds.
        full_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        lags: list[dict[str, Any]] = []
        for round_ in range(rounds):
            for name, (target, headers) in targets.items():
                if profile and name == "tollway" and round_ == 0:
                    result = profiled_wrk(tollway_pid, target, duration, headers)
                else:
                    result = wrk(target, duration, WRK_CONNECTIONS, headers)
                full_runs[name].append(result)
                _show(name, result)
                if name == "tollway":
                    lags.append(storage_lag(database))
        full = {name: median_of(runs) for name, runs in full_runs.items()}

        half_rate = full["tollway"]["rps"] / 2
        script = work / "delay.lua"
        script.write_text(DELAY_SCRIPT)
        connections = calibrate(targets["tollway"], half_rate, script)
        half_runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for _ in range(rounds):
            for name, (target, headers) in targets.items():
                half_runs[name].append(wrk(target, duration, connections, headers, script))
                _show(f"half-load {name}", half_runs[name][-1])
        half = {name: median_of(runs) for name, runs in half_runs.items()}

        lags.append(storage_lag(database))
        events, rolled = count_events(database)
        requests = sum(r["requests"] for runs in (full_runs["tollway"], half_runs["tollway"]) for r in runs)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": {
            "wrk_threads": WRK_THREADS,
            "wrk_connections": WRK_CONNECTIONS,
            "duration_s": duration,
            "rounds": rounds,
            "tollway_workers": workers,
            "nginx_proxy_workers": workers,
            "backend": "nginx, 1 worker, return 200",
            "half_load": f"{connections} connections, {HALF_LOAD_DELAY_MS} ms delay between requests each",
        },
        "full_load": full,
        "ratio_tollway_to_nginx": round(full["tollway"]["rps"] / full["nginx"]["rps"], 3),
        "half_load": half,
        "added_p99_ms_vs_backend": round(half["tollway"]["p99_ms"] - half["backend"]["p99_ms"], 3),
        "added_p99_ms_vs_nginx": round(half["tollway"]["p99_ms"] - half["nginx"]["p99_ms"], 3),
        "metering": {
            "requests_completed_by_wrk": requests,
            "usage_events_stored": events,
            "rolled_up": rolled,
            # After each full-load Tollway run (and at the end): how many events the spool writer
            # still had to store when wrk stopped, and how long it took.
            "storage_lag": lags,
        },
    }


def profiled_wrk(parent: int, target: str, duration: int, headers: dict[str, str]) -> dict[str, Any]:
    """wrk against Tollway while py-spy samples one worker process."""
    pids = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", "spawn_main"], capture_output=True, text=True
    ).stdout.split() or [str(parent)]
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = ROOT / "bench" / "results" / "gateway-profile.txt"  # collapsed stacks (flamegraph.pl input)
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            pids[0],
            "-d",
            str(duration),
            "-o",
            str(out),
            "-r",
            "250",
            "-f",
            "raw",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return wrk(target, duration, WRK_CONNECTIONS, headers)
    finally:
        proc.wait(duration + 30)


def write_results(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    day = result["date"][:10]
    json_path = RESULTS / f"gateway-{day}.json"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    full, half = result["full_load"], result["half_load"]
    lines = [
        f"# Gateway benchmark, {result['date']}",
        "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, Linux "
        f"{result['machine']['kernel']}, Python {result['machine']['python']}, {result['machine']['nginx']}, "
        f"{result['machine']['wrk']}. Everything (wrk, backend, proxy) shares these cores.",
        "",
        f"Each target ran {result['settings']['rounds']} times, the targets taking turns; the tables give "
        "the median of the rounds (every round's figure in the last column).",
        "",
        f"## Full load: wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{result['settings']['duration_s']}s",
        "",
        "| target | requests/s | p50 ms | p99 ms | rounds (requests/s) |",
        "|---|---:|---:|---:|---|",
    ]
    labels = {
        "backend": "(a) backend directly",
        "nginx": "(b) nginx proxy_pass",
        "tollway": "(c) Tollway gateway",
    }
    for name, label in labels.items():
        row = full[name]
        rounds = ", ".join(f"{rps:.0f}" for rps in row["rounds_rps"])
        lines.append(f"| {label} | {row['rps']:.0f} | {row['p50_ms']} | {row['p99_ms']} | {rounds} |")
    lines += [
        "",
        f"Tollway / nginx throughput: **{result['ratio_tollway_to_nginx']}** (target >= 0.5). "
        f"Tollway ran {result['settings']['tollway_workers']} worker processes, nginx "
        f"{result['settings']['nginx_proxy_workers']}.",
        "",
        f"## Half of Tollway's throughput ({result['settings']['half_load']})",
        "",
        "| target | requests/s | p50 ms | p99 ms | rounds (p99 ms) |",
        "|---|---:|---:|---:|---|",
    ]
    for name, label in labels.items():
        row = half[name]
        rounds = ", ".join(str(p99) for p99 in row["rounds_p99_ms"])
        lines.append(f"| {label} | {row['rps']:.0f} | {row['p50_ms']} | {row['p99_ms']} | {rounds} |")
    metering = result["metering"]
    lines += [
        "",
        f"Added p99 by Tollway: **{result['added_p99_ms_vs_backend']} ms** over the backend alone, "
        f"{result['added_p99_ms_vs_nginx']} ms over nginx (target <= 2 ms).",
        "",
        f"Metering: wrk completed {metering['requests_completed_by_wrk']} requests through Tollway "
        f"(measured runs, warm-up excluded); {metering['usage_events_stored']} usage events are stored "
        f"(warm-up included), {metering['rolled_up']} counted in the hourly rollups.",
        "",
        "Storage lag (the spool writer reads at idle CPU priority): when each full-load Tollway run ended, "
        + "; ".join(
            f"{lag['still_to_store']} events were still to store, all stored in {lag['stored_within_s']} s"
            for lag in metering["storage_lag"][:-1]
        )
        + ". The next run started after that.",
        "",
    ]
    md_path = RESULTS / f"gateway-{day}.md"
    md_path.write_text("\n".join(lines))
    return md_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each target; medians are reported")
    parser.add_argument("--profile", action="store_true", help="py-spy flame graph of one worker")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    result = run(args.duration, args.workers, args.profile, args.rounds)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        print(f"written: {write_results(result)}")


if __name__ == "__main__":
    main()
