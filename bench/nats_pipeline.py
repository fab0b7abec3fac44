"""The usage pipeline over NATS JetStream: a node's sink publishing, ``tollway meter`` storing.

    .venv/bin/python -m bench.nats_pipeline [--events 200000] [--batch 5000] [--meters 1 2]
        [--backend postgresql] [--postgres URL] [--repeat 1] [--save]

A private ``nats-server -js`` (free port, its own store folder) and a fresh migrated database
(bench.billing.setup) per case. Events are built as bench.pipeline builds them (1,000
subscriptions, every batch touching each).

- ``publish``: one process sends every batch through ``NatsSink.write`` (what a node's spool
  writer does: each call returns once JetStream has stored the batch), no meter running.
  Events/s that one node can hand over.
- ``end to end`` with M meters: M ``tollway meter`` processes are started and idle on the
  empty stream; then the same publisher sends everything while they store. Events/s = events /
  (last event stored - first publish); the database is polled every 0.05 s for its count.
  Afterwards the stored rows and rollup totals must equal the events and the stream must be empty.

``--save`` writes bench/results/nats-pipeline-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from sqlalchemy import text

from bench.billing.report import RESULTS, machine
from bench.billing.run import DEFAULT_POSTGRES, postgres_version
from bench.billing.setup import database, make_runtime
from bench.pipeline import make_batches
from tollway.config import MeteringSettings
from tollway.db.session import make_engine
from tollway.metering.nats_sink import NatsSink
from tollway.metering.nats_stream import StreamSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nats:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        binary = shutil.which("nats-server")
        assert binary, "nats-server is not installed"
        self.proc = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def left_in_stream(url: str, stream: str) -> int:
    async def ask() -> int:
        client = await nats.connect(url)
        try:
            return int((await client.jetstream().stream_info(stream)).state.messages)
        finally:
            await client.close()

    return asyncio.run(ask())


def count(engine: Any) -> tuple[int, int]:
    with engine.connect() as conn:
        rows = int(conn.execute(text("SELECT count(*) FROM usage_events")).scalar() or 0)
        rolled_up = text("SELECT coalesce(sum(total_count), 0) FROM usage_rollups")
        rolled = int(conn.execute(rolled_up).scalar() or 0)
    return rows, rolled


def start_meters(url: str, nats_url: str, meters: int, folder: Path) -> list[subprocess.Popen[bytes]]:
    config = folder / "meter.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[metering]\nsink = "nats"\nnats_url = "{nats_url}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tollway", "meter", "--config", str(config), "--data-dir", str(folder)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(meters)
    ]


def run_case(backend: str, postgres_url: str, meters: int, events: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, database(backend, postgres_url, Path(tmp)) as url:
        folder = Path(tmp)
        make_runtime(url, folder / "data").close()
        server = Nats(folder / "nats")
        processes: list[subprocess.Popen[bytes]] = []
        engine = make_engine(url)
        sink = NatsSink(StreamSettings.of(MeteringSettings(sink="nats", nats_url=server.url)))
        try:
            batches = make_batches(events, batch, time.time())
            # Connect and create the stream before the clock starts (an event of its own).
            sink.write(make_batches(1, 1, time.time())[0])
            if meters:
                processes = start_meters(url, server.url, meters, folder)
                deadline = time.monotonic() + 30
                while count(engine)[0] < 1:  # the meters are up: they stored the first event
                    assert time.monotonic() < deadline, "the meters did not start"
                    time.sleep(0.05)
            began = time.monotonic()
            for b in batches:
                sink.write(b)
            published = time.monotonic()
            stored_at = published
            if meters:
                deadline = published + 600
                while count(engine)[0] < events + 1:
                    assert time.monotonic() < deadline, "the meters did not store everything"
                    time.sleep(0.05)
                stored_at = time.monotonic()
                time.sleep(0.5)
                rows, rolled = count(engine)
                assert rows == rolled == events + 1, (rows, rolled, events + 1)
                assert left_in_stream(server.url, "TOLLWAY_USAGE") == 0
        finally:
            sink.close()
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(30)
            engine.dispose()
            server.stop()
    publish_seconds = published - began
    result: dict[str, Any] = {
        "backend": backend,
        "meters": meters,
        "events": events,
        "batch_size": batch,
        "publish_seconds": round(publish_seconds, 3),
        "publish_events_per_second": int(events / publish_seconds),
    }
    if meters:
        result["end_to_end_seconds"] = round(stored_at - began, 3)
        result["end_to_end_events_per_second"] = int(events / (stored_at - began))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--meters", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backend", default="postgresql")
    parser.add_argument("--postgres", default=os.environ.get("TOLLWAY_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is kept")
    parser.add_argument("--save", action="store_true", help="write bench/results/nats-pipeline-<date>.json")
    args = parser.parse_args()
    pg_version = postgres_version(args.postgres) if args.backend == "postgresql" else None
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.nats_pipeline " + " ".join(sys.argv[1:]),
        "machine": machine(pg_version),
        "cases": [],
    }
    for meters in args.meters:
        key = "end_to_end_events_per_second" if meters else "publish_events_per_second"
        runs = [
            run_case(args.backend, args.postgres, meters, args.events, args.batch) for _ in range(args.repeat)
        ]
        best = max(runs, key=lambda r: r[key])
        best["runs_events_per_second"] = [r[key] for r in runs]
        results["cases"].append(best)
        print(json.dumps(best), flush=True)
    if args.save:
        path = RESULTS / f"nats-pipeline-{results['date'][:10]}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {path}")


if __name__ == "__main__":
    main()
