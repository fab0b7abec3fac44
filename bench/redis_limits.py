"""Plan limits on Redis against local counters: what sharing them across nodes costs a call.

    .venv/bin/python -m bench.redis_limits [--duration 5] [--workers 2] [--rounds 2]

One run, one machine: a backend (nginx, ``return 200``), a ``redis-server`` of its own (loopback,
nothing on disk) and two ``tollway gateway`` nodes (a SQLite database each, so that their spool
writers do not share a write lock), identical but for ``[gateway] limits``: ``"local"`` and
``"redis"``. Every call carries a bearer token whose plan
has a quota and a burst rate far above the load, so both limiters check every call and never
refuse (the Redis one leases blocks of the allowance). Each variant gets the same wrk runs, the
variants taking turns:

- full load: wrk -t2 -c32 for ``--duration`` seconds: requests/s, p50, p99;
- a fixed moderate load (32 connections, 2 ms between requests each, ~1/2 to 2/3 of the full
  throughput): p50 and p99 without the queueing of a saturated machine.

The rounds alternate which variant goes first, and each run starts once the previous node's
spool writer has stored its events. It also counts the lease scripts Redis ran (``INFO
commandstats``) per call admitted, and times the limit check alone in one process (a loop of
checks with local counters, then with Redis leases, lease requests included).
Results go to bench/results/redis-limits-<date>.json and .md. Loopback only; every process this
script starts is stopped when it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench.gateway.run import (
    BACKEND,
    DELAY_SCRIPT,
    RESULTS,
    _stop,
    free_port,
    machine,
    median_of,
    seed,
    start_nginx,
    start_tollway,
    storage_lag,
    wait_port,
    wrk,
)
from tollway.gateway.limits import PENDING, Limiter
from tollway.gateway.redis_limits import RedisLimiter
from tollway.gateway.snapshot import Plan
from tollway.pricing.windows import Window

VARIANTS = ("local", "redis")
CONNECTIONS = 32


def start_redis(stack: ExitStack, work: Path) -> int:
    port = free_port()
    folder = work / "redis-server"
    folder.mkdir()
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(folder), "--logfile", str(folder / "redis.log")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, proc)
    wait_port(port)
    return port


def lease_calls(port: int) -> int:
    """Scripts Redis has run (the lease takes and returns), all kinds of invocation together."""
    with redis.Redis(host="127.0.0.1", port=port) as client:
        stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))


def limiter_cost(redis_port: int, calls: int = 300_000) -> dict[str, float]:
    """Microseconds per limit check in one process, lease requests included: the local counters
    against the Redis leases (a plan far above the calls, as in the wrk runs)."""
    plan = Plan(
        id="p",
        name="bench",
        quota=10**12,
        quota_bytes=0,
        quota_window=Window(seconds=60.0),
        stop_on_quota=True,
        burst=10**9,
        burst_seconds=1.0,
        billing_plan="COMMERCIAL",
    )

    async def measure() -> dict[str, float]:
        local = Limiter()
        began = time.perf_counter()
        for _ in range(calls):
            local.admit("s", plan, time.time())
        local_us = (time.perf_counter() - began) / calls * 1e6
        shared = RedisLimiter(f"redis://127.0.0.1:{redis_port}/0")
        loop = asyncio.get_running_loop()
        began = time.perf_counter()
        for _ in range(calls):
            if shared.admit("s", plan, time.time()) == PENDING:
                decided: asyncio.Future[float] = loop.create_future()
                shared.admit_later("s", plan, decided.set_result)
                assert await decided == 0.0
        await shared.settled()
        redis_us = (time.perf_counter() - began) / calls * 1e6
        requests = shared.requests
        await shared.close()
        return {
            "local_us_per_call": round(local_us, 3),
            "redis_us_per_call": round(redis_us, 3),
            "lease_requests": requests,
        }

    return asyncio.run(measure())


def _rounded(result: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


def _show(name: str, result: dict[str, Any]) -> None:
    print(
        f"{name:22s} {result['rps']:>9.0f} req/s  p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms",
        flush=True,
    )


def run(duration: int, workers: int, rounds: int) -> dict[str, Any]:
    for tool in ("wrk", "nginx", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is not installed (Debian: apt-get install -y wrk nginx-light redis-server)"
            )
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tollway-bench-redis-")))
        backend = free_port()
        start_nginx(stack, work, "backend", BACKEND.format(port=backend), workers=1)
        redis_port = start_redis(stack, work)
        ports, tokens, databases = {}, {}, {}
        for variant in VARIANTS:
            # A database per node: neither node's spool writer waits for the other's write lock.
            folder = work / variant
            folder.mkdir()
            databases[variant] = folder / "tollway.db"
            url = f"sqlite:///{databases[variant]}"
            tokens[variant] = seed(url, f"http://127.0.0.1:{backend}/")
            extra = (
                "[server]\ngateway_https_port = 0\n"  # plain HTTP only: two nodes, one machine
                f'[gateway]\nlimits = "{variant}"\n[redis]\nurl = "redis://127.0.0.1:{redis_port}/0"\n'
            )
            ports[variant] = free_port()
            os.environ["BENCH_EXTRA_TOML"] = extra  # start_tollway adds it to the node's configuration
            start_tollway(stack, folder, ports[variant], workers, url)
        for port in (backend, *ports.values()):
            wait_port(port)
        time.sleep(1.0)  # workers load their snapshots
        targets = {
            variant: (f"http://127.0.0.1:{ports[variant]}/bench/1.0.0/", {"Authorization": f"Bearer {token}"})
            for variant, token in tokens.items()
        }
        for variant, (target, headers) in targets.items():
            warm = wrk(target, 2, CONNECTIONS, headers)  # connections, pools, first leases
            assert warm["non_2xx"] == 0, warm
            storage_lag(databases[variant])
        script = work / "delay.lua"
        script.write_text(DELAY_SCRIPT)
        full_runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        moderate_runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        calls_before = lease_calls(redis_port)
        for round_ in range(rounds):
            # The variants take turns, and each round starts with the other one. Before each run
            # the previous node's spool writer has stored what it was given (it shares the cores).
            order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
            for name, load, delay in (("full", full_runs, None), ("moderate", moderate_runs, script)):
                for variant in order:
                    target, headers = targets[variant]
                    load[variant].append(wrk(target, duration, CONNECTIONS, headers, delay))
                    _show(f"{variant} {name}", load[variant][-1])
                    storage_lag(databases[variant])
        scripts = lease_calls(redis_port) - calls_before
        cost = limiter_cost(redis_port)
        print(f"limit check, one process: {cost}", flush=True)
    full = {v: _rounded(median_of(r)) for v, r in full_runs.items()}
    moderate = {v: _rounded(median_of(r)) for v, r in moderate_runs.items()}
    for runs in (*full_runs.values(), *moderate_runs.values()):
        for result in runs:
            assert result["non_2xx"] == 0, result  # the limits never refused: both did the same work
    redis_requests = sum(r["requests"] for r in (*full_runs["redis"], *moderate_runs["redis"]))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": {
            "wrk_threads": 2,
            "connections": CONNECTIONS,
            "duration_s": duration,
            "rounds": rounds,
            "tollway_workers": workers,
            "backend": "nginx, 1 worker, return 200",
            "moderate_load": f"{CONNECTIONS} connections, 2 ms delay between requests each",
            "plan": "quota 10^12 a minute, burst 10^9 a second (checked on every call, never reached)",
        },
        "full_load": full,
        "moderate_load": moderate,
        "throughput_ratio_redis_to_local": round(full["redis"]["rps"] / full["local"]["rps"], 3),
        "added_p99_ms_full_load": round(full["redis"]["p99_ms"] - full["local"]["p99_ms"], 3),
        "added_p99_ms_moderate_load": round(moderate["redis"]["p99_ms"] - moderate["local"]["p99_ms"], 3),
        "load_average_after": os.getloadavg(),
        "limit_check": cost,
        "redis_scripts": scripts,
        "redis_scripts_per_1000_calls": round(1000 * scripts / max(1, redis_requests), 3),
    }


def load_table(result: dict[str, Any], variants: tuple[str, ...]) -> list[str]:
    """The markdown table of each variant at full and at the moderate load, with every round."""
    lines = [
        "| variant | load | requests/s | p50 ms | p99 ms | rounds (requests/s / p99 ms) |",
        "|---|---|---:|---:|---:|---|",
    ]
    moderate = result["settings"]["moderate_load"]
    for load, key in (("full (wrk -t2 -c32)", "full_load"), (moderate, "moderate_load")):
        for variant in variants:
            row = result[key][variant]
            rounds = ", ".join(
                f"{rps:.0f} / {p99}" for rps, p99 in zip(row["rounds_rps"], row["rounds_p99_ms"], strict=True)
            )
            figures = f"{row['rps']:.0f} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f}"
            lines.append(f"| {variant} | {load} | {figures} | {rounds} |")
    return lines


def write_results(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    day = result["date"][:10]
    (RESULTS / f"redis-limits-{day}.json").write_text(json.dumps(result, indent=2) + "\n")
    m, s = result["machine"], result["settings"]
    lines = [
        f"# Plan limits on Redis against local counters, {result['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, {m['wrk']}. "
        "wrk, the backend, Redis and both gateways share these cores.",
        "",
        f"Two `tollway gateway` nodes ({s['tollway_workers']} workers each, a SQLite database each), "
        '`[gateway] limits = "local"` and `"redis"`; plan: ' + s["plan"] + ". "
        f"{s['rounds']} round(s) of {s['duration_s']} s per variant and load, the variants taking turns.",
        "",
        *load_table(result, VARIANTS),
    ]
    ratio = result["throughput_ratio_redis_to_local"]
    lines += [
        "",
        f"Throughput on Redis / local: **{ratio}** (target at least 0.9: at most 10% fewer requests/s).",
        f"Added p99: **{result['added_p99_ms_moderate_load']} ms** at the moderate load, "
        f"{result['added_p99_ms_full_load']} ms at full load (target at most 0.5 ms).",
        f"Redis ran {result['redis_scripts']} lease scripts: "
        f"{result['redis_scripts_per_1000_calls']} per 1000 calls admitted.",
        "",
        "The limit check alone, in one process (a loop of checks, lease requests included): "
        f"{result['limit_check']['local_us_per_call']} us a call with local counters, "
        f"{result['limit_check']['redis_us_per_call']} us with Redis leases "
        f"({result['limit_check']['lease_requests']} lease requests).",
        "",
        f"Load average when the run ended: {', '.join(f'{x:.2f}' for x in result['load_average_after'])} "
        f"({m['cores']} cores; other work shared the machine).",
        "",
    ]
    md_path = RESULTS / f"redis-limits-{day}.md"
    md_path.write_text("\n".join(lines))
    return md_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per gateway node")
    parser.add_argument("--rounds", type=int, default=2, help="runs per variant and load, taking turns")
    args = parser.parse_args()
    result = run(args.duration, args.workers, args.rounds)
    print(f"results: {write_results(result)}")


if __name__ == "__main__":
    main()
