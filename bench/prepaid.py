"""A prepaid subscription against a postpaid one at the gateway: what checking the wallet costs.

    .venv/bin/python -m bench.prepaid [--duration 5] [--workers 2] [--rounds 2]

One run, one machine: a backend (nginx, ``return 200``) and one ``tollway gateway`` node (SQLite)
serving two subscriptions of one API that differ only in their plan: POSTPAID (the plan limits
only) or PREPAID (0.000001 USD a call, a wallet of 10^6 USD: every call is priced and checked
against the wallet, none is refused); each variant's calls carry its application's token. The same wrk runs as
bench/redis_limits.py, the variants taking turns: full load (wrk -t2 -c32) and a fixed moderate
load (32 connections, 2 ms between requests each). Results go to
bench/results/prepaid-<date>.json and .md. Loopback only; every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.gateway.run import (
    BACKEND,
    DELAY_SCRIPT,
    RESULTS,
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
from bench.redis_limits import CONNECTIONS, _rounded, _show, load_table

VARIANTS = ("postpaid", "prepaid")


def add_prepaid_subscriber(database_url: str) -> str:
    """A second application on the same API, on a PREPAID copy of the seeded plan (0.000001 USD a
    call) with a wallet far above the load; returns its bearer token."""
    from sqlalchemy import select

    from tollway.db.session import make_engine, make_session_factory, transaction
    from tollway.identity.tokens import create_client, issue_tokens
    from tollway.models import Api, Application, Subscription, SubscriptionPolicy
    from tollway.models.changes import mark_gateway_config_changed
    from tollway.wallets import entries

    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as session:
        seeded = session.scalars(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Bench")).one()
        api = session.scalars(select(Api)).one()
        owner = session.scalars(select(Application)).one().owner_id
        policy = SubscriptionPolicy(
            tenant_id=seeded.tenant_id,
            name="BenchPrepaid",
            request_count=seeded.request_count,
            time_unit=seeded.time_unit,
            unit_time=seeded.unit_time,
            rate_limit_count=seeded.rate_limit_count,
            rate_limit_time_unit=seeded.rate_limit_time_unit,
            stop_on_quota_reach=True,
            billing_plan="COMMERCIAL",
            monetization_plan="DynamicRate",
            price_per_request=Decimal("0.000001"),
            currency="USD",
            billing_cycle="month",
            billing_mode="PREPAID",
        )
        app = Application(tenant_id=seeded.tenant_id, owner_id=owner, name="bench-prepaid")
        session.add_all([policy, app])
        session.flush()
        client, _ = create_client(
            session,
            tenant_id=seeded.tenant_id,
            client_name="bench-prepaid",
            owner_id=owner,
            grant_types="client_credentials",
            application_id=app.id,
            key_type="PRODUCTION",
        )
        token = issue_tokens(
            session, client=client, user=None, scopes=frozenset(), access_ttl=86400, refresh_ttl=None
        ).access_token
        session.add(
            Subscription(
                tenant_id=seeded.tenant_id, application_id=app.id, api_id=api.id, policy_id=policy.id
            )
        )
        wallet = entries.wallet_for(session, seeded.tenant_id, owner, "USD")
        entries.append(session, wallet, "grant", Decimal(10**6), reason="benchmark", actor="bench")
        mark_gateway_config_changed(session)
    engine.dispose()
    return token


def run(duration: int, workers: int, rounds: int) -> dict[str, Any]:
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install -y wrk nginx-light)")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tollway-bench-prepaid-")))
        backend = free_port()
        start_nginx(stack, work, "backend", BACKEND.format(port=backend), workers=1)
        # One node serves both subscriptions: the variants differ by nothing but the plan (two
        # nodes differ by more: an A/A run of two identical nodes measured 0.876 between them).
        os.environ["BENCH_EXTRA_TOML"] = "[server]\ngateway_https_port = 0\n"
        database = work / "tollway.db"
        url = f"sqlite:///{database}"
        tokens = {"postpaid": seed(url, f"http://127.0.0.1:{backend}/")}
        tokens["prepaid"] = add_prepaid_subscriber(url)
        port = free_port()
        start_tollway(stack, work, port, workers, url)
        for each in (backend, port):
            wait_port(each)
        time.sleep(1.0)
        targets = {
            v: (f"http://127.0.0.1:{port}/bench/1.0.0/", {"Authorization": f"Bearer {t}"})
            for v, t in tokens.items()
        }
        for target, headers in targets.values():
            warm = wrk(target, 2, CONNECTIONS, headers)
            assert warm["non_2xx"] == 0, warm
            storage_lag(database)
        script = work / "delay.lua"
        script.write_text(DELAY_SCRIPT)
        full_runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        moderate_runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for round_ in range(rounds):
            order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
            for name, load, delay in (("full", full_runs, None), ("moderate", moderate_runs, script)):
                for variant in order:
                    target, headers = targets[variant]
                    load[variant].append(wrk(target, duration, CONNECTIONS, headers, delay))
                    _show(f"{variant} {name}", load[variant][-1])
                    storage_lag(database)
    for runs in (*full_runs.values(), *moderate_runs.values()):
        for result in runs:
            assert result["non_2xx"] == 0, result  # nothing refused: both did the same work
    full = {v: _rounded(median_of(r)) for v, r in full_runs.items()}
    moderate = {v: _rounded(median_of(r)) for v, r in moderate_runs.items()}
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": {
            "connections": CONNECTIONS,
            "duration_s": duration,
            "rounds": rounds,
            "tollway_workers": workers,
            "moderate_load": f"{CONNECTIONS} connections, 2 ms delay between requests each",
        },
        "full_load": full,
        "moderate_load": moderate,
        "throughput_ratio_prepaid_to_postpaid": round(full["prepaid"]["rps"] / full["postpaid"]["rps"], 3),
        "added_p99_ms_full_load": round(full["prepaid"]["p99_ms"] - full["postpaid"]["p99_ms"], 3),
        "added_p99_ms_moderate_load": round(
            moderate["prepaid"]["p99_ms"] - moderate["postpaid"]["p99_ms"], 3
        ),
        "load_average_after": os.getloadavg(),
    }


def write_results(result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    day = result["date"][:10]
    (RESULTS / f"prepaid-{day}.json").write_text(json.dumps(result, indent=2) + "\n")
    m, s = result["machine"], result["settings"]
    lines = [
        f"# Prepaid against postpaid at the gateway, {result['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, {m['wrk']}. "
        "wrk, the backend and the gateway share these cores.",
        "",
        f"One `tollway gateway` node ({s['tollway_workers']} workers, SQLite), two subscriptions of one "
        "API: POSTPAID, or PREPAID at 0.000001 USD a call with a wallet of 10^6 USD (every call priced "
        "and checked, none refused); each variant's calls carry its own application's token. "
        f"{s['rounds']} round(s) of {s['duration_s']} s per variant and load, the variants taking turns. "
        "Command: `.venv/bin/python -m bench.prepaid`.",
        "",
        *load_table(result, VARIANTS),
    ]
    lines += [
        "",
        f"Throughput prepaid / postpaid: **{result['throughput_ratio_prepaid_to_postpaid']}** "
        "(target at least 0.95).",
        f"Added p99: **{result['added_p99_ms_moderate_load']} ms** at the moderate load, "
        f"{result['added_p99_ms_full_load']} ms at full load (target at most 0.3 ms).",
        "",
        f"Load average when the run ended: {', '.join(f'{x:.2f}' for x in result['load_average_after'])}.",
        "",
    ]
    path = RESULTS / f"prepaid-{day}.md"
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per gateway node")
    parser.add_argument("--rounds", type=int, default=2, help="runs per variant and load, taking turns")
    args = parser.parse_args()
    print(f"results: {write_results(run(args.duration, args.workers, args.rounds))}")


if __name__ == "__main__":
    main()
