"""Billing benchmarks on the built-in ledger engine, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.billing.run [--subscriptions 10000] [--postgres URL] [--no-postgres]

1. **Usage publishing**: ``--subscriptions`` monetized subscriptions on a metered plan, each with
   12 billable calls spread over the last 90 minutes (whole hours come from the rollups, the edges
   from raw events), each started at a different instant (so every subscription has its own
   watermark and its own window: the worst case for the first run). Timed: one publishing job
   end to end (lock, job row, plan, send, watermarks), then a second job with nothing new.
   Target: <= 30 s for 10,000 subscriptions.
2. **Invoice preview**: one subscription with 10,000,000 billable calls in its open period, received
   as 720 hourly usage records (a month published hourly) and as 43,200 records (published every
   minute). Timed: the subscription's current invoice through the monetization service and the
   ledger engine (what ``GET /subscriptions/{id}/usage`` runs), median and p95 of 50 calls.
   Target: <= 50 ms.
3. **Usage-event ingestion**: the metering sink writing 200,000 events in batches of the gateway's
   default ``[metering] batch_size`` (5,000) for 1,000 subscriptions into ``usage_events`` and
   ``usage_rollups``, events/s; every batch touches every subscription (the worst case for the
   ``(subscription_id, time)`` index). Target: >= 50,000 events/s. Measured again with batches of
   1,000 (the former default) for information.

Each benchmark gets a fresh throwaway database (SQLite in a temporary folder; a new PostgreSQL
database, dropped afterwards). Results go to bench/results/billing-<date>.json and .md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from bench.billing.report import machine, write_results
from bench.billing.setup import database, make_runtime, restart, seed
from tollway.billing.contract import UsageRecord
from tollway.config import MeteringSettings
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.invoicing import invoices
from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent
from tollway.models import MonSubscription
from tollway.monetization.service import MonetizationService
from tollway.publishing import jobs
from tollway.runtime import Runtime

DEFAULT_BATCH = MeteringSettings().batch_size
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CALLS_PER_SUBSCRIPTION = 12
TEN_MILLION = 10_000_000
PREVIEW_CALLS = 50


def record_usage(runtime: Runtime, api_id: str, subscription_ids: list[str], now: datetime) -> int:
    sink = DatabaseSink(runtime.engine)
    events: list[UsageEvent] = []
    written = 0
    for index, sub_id in enumerate(subscription_ids):
        for k in range(CALLS_PER_SUBSCRIPTION):
            at = now - timedelta(minutes=90) + timedelta(seconds=(k * 450 + index % 400))
            events.append(
                UsageEvent(
                    f"b{index:x}-{k}", at.timestamp(), "t", api_id, "a", sub_id, "Metered", 200, True, 1, 1, 1
                )
            )
            if len(events) == 1000:
                written += sink.write(events)
                events = []
    written += sink.write(events)
    return written


def bench_publish(runtime: Runtime, subscriptions: int) -> dict[str, Any]:
    began = time.perf_counter()
    now = utcnow()
    api_id, ids = seed(runtime, subscriptions, started=now - timedelta(hours=2))
    events = record_usage(runtime, api_id, ids, now)
    setup = time.perf_counter() - began
    svc = MonetizationService(runtime)

    started = time.perf_counter()
    result = jobs.start(svc, runtime.session_factory, "bench").run()
    first = time.perf_counter() - started
    assert result is not None and result.failed == 0, result
    assert result.published == subscriptions, result
    assert result.calls == events, (result.calls, events)

    started = time.perf_counter()
    again = jobs.start(svc, runtime.session_factory, "bench").run()
    second = time.perf_counter() - started
    assert again is not None and again.calls == 0
    return {
        "subscriptions": subscriptions,
        "billable_calls": events,
        "usage_records": result.records,
        "first_run_seconds": round(first, 2),
        "second_run_seconds": round(second, 2),
        "setup_seconds": round(setup, 1),
        "target_seconds": 30,
        "met": first <= 30,
    }


def bench_preview(runtime: Runtime, records: int) -> dict[str, Any]:
    start = utcnow() - timedelta(days=29)
    _, (sub_id,) = seed(runtime, 1)
    restart(runtime, sub_id, start)
    svc = MonetizationService(runtime)
    step = timedelta(days=29) / records
    per_record, remainder = divmod(TEN_MILLION, records)
    with transaction(runtime.session_factory) as session:
        row = session.scalar(select(MonSubscription).where(MonSubscription.subscription_id == sub_id))
        assert row is not None
        call = svc.call(session, row.tenant_id, "bench")
        batch = [
            UsageRecord(
                f"usage:bench:{n}",
                per_record + (1 if n < remainder else 0),
                start + step * n,
                start + step * (n + 1),
            )
            for n in range(records)
        ]
        svc.engine.publish_usage(call, svc.ref(session, row), batch)
    timings = []
    for _ in range(PREVIEW_CALLS):
        began = time.perf_counter()
        with transaction(runtime.session_factory) as session:
            invoice = invoices.current_invoice(svc, session, sub_id)
        timings.append((time.perf_counter() - began) * 1000)
    assert invoice.lines[0].quantity == TEN_MILLION, invoice
    assert str(invoice.total) == "4000.00", invoice.total  # 10,000,000 x 0.0004 USD
    timings.sort()
    p95 = timings[round(len(timings) * 0.95) - 1]
    return {
        "billable_calls": TEN_MILLION,
        "usage_records": records,
        "total": str(invoice.total),
        "median_ms": round(statistics.median(timings), 2),
        "p95_ms": round(p95, 2),
        "target_ms": 50,
        "met": p95 <= 50,
    }


def bench_ingest(runtime: Runtime, batch: int = DEFAULT_BATCH, total: int = 200_000) -> dict[str, Any]:
    sink = DatabaseSink(runtime.engine)
    base = utcnow().timestamp()
    subscriptions = [str(uuid.uuid4()) for _ in range(1000)]
    batches = [
        [
            UsageEvent(
                f"i{n:x}",
                base + n / 1000,
                "t",
                "api",
                "app",
                subscriptions[n % 1000],
                "Metered",
                200,
                n % 10 != 0,
                1,
                1,
                1,
            )
            for n in range(start, start + batch)
        ]
        for start in range(0, total, batch)
    ]
    began = time.perf_counter()
    stored = sum(sink.write(events) for events in batches)
    seconds = time.perf_counter() - began
    assert stored == total
    assert sink.write(batches[-1]) == 0  # a replayed batch counts nothing
    rate = total / seconds
    return {
        "events": total,
        "batch_size": batch,
        "subscriptions": 1000,
        "seconds": round(seconds, 2),
        "events_per_second": int(rate),
        "target_events_per_second": 50_000,
        "met": rate >= 50_000,
    }


def run_backend(backend: str, postgres_url: str, subscriptions: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    jobs_: list[tuple[str, Callable[[Runtime], dict[str, Any]]]] = [
        ("publish_usage", lambda rt: bench_publish(rt, subscriptions)),
        ("invoice_preview_720_records", lambda rt: bench_preview(rt, 720)),
        ("invoice_preview_43200_records", lambda rt: bench_preview(rt, 43_200)),
        ("usage_ingestion", bench_ingest),
        ("usage_ingestion_batch_1000", lambda rt: bench_ingest(rt, batch=1000)),
    ]
    for name, job in jobs_:
        with tempfile.TemporaryDirectory() as tmp, database(backend, postgres_url, Path(tmp)) as url:
            runtime = make_runtime(url, Path(tmp) / "data")
            try:
                out[name] = job(runtime)
            finally:
                runtime.close()
        print(f"  {backend} {name}: {out[name]}", flush=True)
    return out


def postgres_version(url: str) -> str | None:
    """The server's version, or None when it cannot be reached."""
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar())
        engine.dispose()
        return version
    except Exception:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get("TOLLWAY_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--notes", type=Path, help="a Markdown file appended to the results table")
    args = parser.parse_args()
    backends = ["sqlite"]
    pg_version = None
    if not args.no_postgres:
        pg_version = postgres_version(args.postgres)
        if pg_version is None:
            parser.error(f"PostgreSQL is not reachable at {args.postgres} (or pass --no-postgres)")
        backends.append("postgresql")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(pg_version),
        "backends": {},
    }
    for backend in backends:
        print(f"{backend}:", flush=True)
        results["backends"][backend] = run_backend(backend, args.postgres, args.subscriptions)
    notes = args.notes.read_text() if args.notes else ""
    print(f"results: {write_results(results, notes)}")


if __name__ == "__main__":
    main()
