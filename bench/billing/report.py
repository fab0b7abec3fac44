"""The billing benchmarks' results: bench/results/billing-<date>.json and a Markdown table."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(postgres_version: str | None) -> dict[str, Any]:
    return {
        "cpu": f"{_cpu_model()} ({platform.machine()})",
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version,
    }


def _yes(met: bool) -> str:
    return "yes" if met else "NO"


def _lines(backend: str, figures: dict[str, Any]) -> list[str]:
    publish = figures["publish_usage"]
    lines = [
        f"| {backend} | publish-usage, {publish['subscriptions']:,} monetized subscriptions "
        f"({publish['billable_calls']:,} calls) | first run {publish['first_run_seconds']} s, "
        f"second run {publish['second_run_seconds']} s | <= 30 s | {_yes(publish['met'])} |"
    ]
    for key in ("invoice_preview_720_records", "invoice_preview_43200_records"):
        preview = figures[key]
        lines.append(
            f"| {backend} | invoice preview, 10,000,000 calls in {preview['usage_records']:,} records "
            f"| median {preview['median_ms']} ms, p95 {preview['p95_ms']} ms | <= 50 ms "
            f"| {_yes(preview['met'])} |"
        )
    ingest = figures["usage_ingestion"]
    lines.append(
        f"| {backend} | usage-event ingestion into rollups ({ingest['events']:,} events, batches of "
        f"{ingest['batch_size']:,}) | {ingest['events_per_second']:,} events/s | >= 50,000/s "
        f"| {_yes(ingest['met'])} |"
    )
    smaller = figures.get("usage_ingestion_batch_1000")
    if smaller:
        lines.append(
            f"| {backend} | (information) the same with batches of {smaller['batch_size']:,} "
            f"| {smaller['events_per_second']:,} events/s | | |"
        )
    return lines


def write_results(results: dict[str, Any], notes: str = "") -> Path:
    """Write the JSON and the Markdown table; ``notes`` (Markdown) is appended to the table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["date"][:10]
    if notes:
        results = results | {"notes": notes.strip()}
    json_path = RESULTS / f"billing-{stamp}.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    box = results["machine"]
    lines = [
        f"# Billing benchmarks ({results['date']})",
        "",
        f"Machine: {box['cpu']}, {box['cores']} cores (shared), Python {box['python']}, "
        f"SQLite {box['sqlite']}, PostgreSQL {box['postgresql'] or 'not measured'}; "
        f"load average at start {box['load_average_at_start']}.",
        "Command: `.venv/bin/python -m bench.billing.run`; bench/billing/run.py says what each "
        "figure measures.",
        "",
        "| backend | benchmark | result | target | met |",
        "|---|---|---|---|---|",
    ]
    for backend, figures in results["backends"].items():
        lines += _lines(backend, figures)
    if notes:
        lines += ["", notes.strip()]
    md_path = RESULTS / f"billing-{stamp}.md"
    md_path.write_text("\n".join(lines) + "\n")
    return md_path
