"""Usage-event ingestion through ``DatabaseSink`` alone, with 1 and 2 concurrent writers.

    .venv/bin/python -m bench.pipeline [--events 200000] [--batch 5000] [--writers 1 2]
        [--backends postgresql sqlite] [--postgres URL] [--save] [--profile]

Each case gets a fresh migrated database (bench.billing.setup). Each writer is its own process
with its own engine and connection (what a second meter consumer is), builds its events before
the start (ids as the recorder makes them: a random prefix per process and a 12-hex-digit
sequence; 1,000 subscriptions, every batch touching each of them, the worst case for the
``(subscription_id, time)`` index), waits for the others, then writes its share in batches of
``--batch``. Events/s = all events / (last writer's end - first writer's start). Afterwards each
writer replays its last batch (must count 0) and the stored rows and rollup totals are checked.

``--save`` writes bench/results/pipeline-<date>.json; ``--profile`` runs one writer under
cProfile and prints the top of its profile.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing as mp
import os
import pstats
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.billing.report import RESULTS, machine
from bench.billing.run import DEFAULT_POSTGRES, postgres_version
from bench.billing.setup import database, make_runtime
from tollway.db.session import make_engine
from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent

SUBSCRIPTIONS = 1000


def make_batches(events: int, batch: int, base: float) -> list[list[UsageEvent]]:
    prefix = secrets.token_hex(8) + "-"
    subs = [f"{n:08x}-0000-4000-8000-{secrets.token_hex(6)}" for n in range(SUBSCRIPTIONS)]
    return [
        [
            UsageEvent(
                f"{prefix}{n:012x}",
                base + n / 1000,
                "tenant",
                "api",
                "app",
                subs[n % SUBSCRIPTIONS],
                "Metered",
                200,
                n % 10 != 0,
                1500,
                120,
                2400,
            )
            for n in range(start, min(start + batch, events))
        ]
        for start in range(0, events, batch)
    ]


def _backend_pid(engine: Any) -> int | None:
    """The PostgreSQL server process serving the sink's (only) pooled connection."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of a local process so far; 0 without one."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _writer(url: str, events: int, batch: int, barrier: Any, out: Any, profile: bool) -> None:
    engine = make_engine(url, pool_size=1)
    sink = DatabaseSink(engine)
    batches = make_batches(events, batch, time.time())
    sink.write(batches[0][:1])  # connect (and tune the connection) before the clock starts
    backend = _backend_pid(engine)
    barrier.wait()
    profiler = cProfile.Profile() if profile else None
    server_cpu = _cpu_seconds(backend)
    client_cpu = time.process_time()
    began = time.monotonic()
    if profiler:
        profiler.enable()
    stored = sum(sink.write(b) for b in batches)
    if profiler:
        profiler.disable()
    ended = time.monotonic()
    client_cpu = time.process_time() - client_cpu
    server_cpu = _cpu_seconds(backend) - server_cpu
    replay = sink.write(batches[-1])
    engine.dispose()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    out.put((began, ended, stored + 1, replay, client_cpu, server_cpu))  # +1: written before the clock


def run_case(
    backend: str, postgres_url: str, writers: int, events: int, batch: int, profile: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, database(backend, postgres_url, Path(tmp)) as url:
        runtime = make_runtime(url, Path(tmp) / "data")
        runtime.close()
        ctx = mp.get_context("spawn")
        barrier, out = ctx.Barrier(writers), ctx.Queue()
        share = events // writers
        procs = [
            ctx.Process(target=_writer, args=(url, share, batch, barrier, out, profile and i == 0))
            for i in range(writers)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=600) for _ in procs]
        for p in procs:
            p.join(60)
        engine = make_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM usage_events")).scalar()
            rolled = conn.execute(text("SELECT sum(total_count) FROM usage_rollups")).scalar()
        engine.dispose()
    began = min(r[0] for r in results)
    seconds = max(r[1] for r in results) - began
    total = share * writers
    assert sum(r[2] for r in results) == total, results
    assert all(r[3] == 0 for r in results), "a replayed batch was counted"
    assert rows == total and rolled == total, (rows, rolled, total)
    return {
        "backend": backend,
        "writers": writers,
        "events": total,
        "batch_size": batch,
        "seconds": round(seconds, 3),
        "events_per_second": int(total / seconds),
        # CPU per event: the writer processes (Python, driver) and, on PostgreSQL, their server
        # processes (read from /proc: the server must run on this machine).
        "client_cpu_us_per_event": round(sum(r[4] for r in results) / total * 1e6, 2),
        "server_cpu_us_per_event": round(sum(r[5] for r in results) / total * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--postgres", default=os.environ.get("TOLLWAY_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is kept")
    parser.add_argument("--save", action="store_true", help="write bench/results/pipeline-<date>.json")
    parser.add_argument("--profile", action="store_true", help="cProfile the first writer")
    args = parser.parse_args()
    pg_version = postgres_version(args.postgres) if "postgresql" in args.backends else None
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.pipeline " + " ".join(sys.argv[1:]),
        "machine": machine(pg_version),
        "cases": [],
    }
    for backend in args.backends:
        for writers in args.writers:
            runs = [
                run_case(backend, args.postgres, writers, args.events, args.batch, args.profile)
                for _ in range(args.repeat)
            ]
            best = max(runs, key=lambda r: r["events_per_second"])
            best["runs_events_per_second"] = [r["events_per_second"] for r in runs]
            results["cases"].append(best)
            print(json.dumps(best), flush=True)
    if args.save:
        path = RESULTS / f"pipeline-{results['date'][:10]}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {path}")


if __name__ == "__main__":
    main()
