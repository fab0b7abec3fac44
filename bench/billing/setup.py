"""Throwaway databases and the data the billing benchmarks start from."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, create_engine, select, text
from sqlalchemy.engine import make_url

from tollway.bootstrap import ensure_default_tenant
from tollway.config import load_settings
from tollway.db import migrate
from tollway.db.session import transaction
from tollway.models import (
    Api,
    ApiPolicy,
    Application,
    LedgerCustomer,
    LedgerSubscription,
    MonSharedCustomer,
    MonSubscription,
    Subscription,
    SubscriptionPolicy,
    Tenant,
    User,
    UserRole,
)
from tollway.monetization import enabling as apis
from tollway.monetization.service import MonetizationService
from tollway.runtime import Runtime
from tollway.wiring import create_runtime

CLONES_PER_TRANSACTION = 2000


@contextmanager
def database(backend: str, postgres_url: str, workdir: Path) -> Iterator[str]:
    """A fresh database: SQLite in ``workdir``, or a new PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    server = make_url(postgres_url)
    name = f"tollway_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def make_runtime(url: str, data_dir: Path) -> Runtime:
    os.environ.setdefault("TOLLWAY_ADMIN_PASSWORD", "bench-admin")
    settings = load_settings(
        None, environ={}, overrides={"server": {"data_dir": str(data_dir)}, "database": {"url": url}}
    )
    runtime = create_runtime(settings)
    migrate.upgrade(runtime.engine)
    with transaction(runtime.session_factory) as session:
        ensure_default_tenant(session, "127.0.0.1")
    return runtime


def seed(runtime: Runtime, subscriptions: int, started: datetime | None = None) -> tuple[str, list[str]]:
    """A metered plan, a monetized API, one subscriber, ``subscriptions`` apps each subscribed.

    The first subscription goes through the real hooks (monetization makes its shared customer,
    ledger customer, ledger subscription and monetized subscription); the others are bulk copies
    of those rows with their own ids, so that setting up 10,000 subscriptions takes seconds. With
    ``started``, subscription ``n`` started ``n`` ms before it: each has its own watermark and its
    own publishing window (the worst case for a first run). Returns the API id and the
    subscription ids.
    """
    svc = MonetizationService(runtime)
    with transaction(runtime.session_factory) as session:
        tenant = session.scalar(select(Tenant))
        assert tenant is not None
        user = User(tenant_id=tenant.id, username="dev", password_hash="x", email="dev@example.com")
        user.roles.append(UserRole(role="Internal/subscriber"))
        policy = SubscriptionPolicy(
            tenant_id=tenant.id,
            name="Metered",
            request_count=10**9,
            billing_plan="COMMERCIAL",
            monetization_plan="DynamicRate",
            price_per_request=Decimal("0.0004"),
            currency="USD",
            billing_cycle="month",
        )
        session.add_all([user, policy])
        session.flush()
        runtime.hooks.policy_created(session, policy)
        api = Api(
            tenant_id=tenant.id,
            name="Bench",
            context="/bench",
            version="1.0.0",
            provider="admin",
            lifecycle_status="PUBLISHED",
            endpoint_config={},
        )
        session.add(api)
        session.flush()
        session.add(ApiPolicy(api_id=api.id, policy_id=policy.id, position=0))
        session.flush()
        apis.enable(svc, session, api, {})
        app = Application(tenant_id=tenant.id, owner_id=user.id, name="app0")
        session.add(app)
        session.flush()
        sub = Subscription(tenant_id=tenant.id, application_id=app.id, api_id=api.id, policy_id=policy.id)
        session.add(sub)
        session.flush()
        runtime.hooks.subscription_created(session, sub)
        api_id, first = api.id, sub.id
    if started is not None:
        restart(runtime, first, started)
    return api_id, [first, *clone_subscription(runtime, first, subscriptions - 1, started)]


def restart(runtime: Runtime, sub_id: str, started: datetime) -> None:
    """Move the start of ``sub_id``'s monetized and ledger subscriptions to ``started``."""
    with transaction(runtime.session_factory) as session:
        mon = session.scalar(select(MonSubscription).where(MonSubscription.subscription_id == sub_id))
        assert mon is not None
        ledger = session.get(LedgerSubscription, mon.engine_subscription_id)
        assert ledger is not None
        mon.started_at = ledger.anchor_at = started


def _row(conn: Connection, table: Table, **where: Any) -> dict[str, Any]:
    found = conn.execute(select(table).where(*(table.c[k] == v for k, v in where.items())))
    return dict(found.mappings().one())


def clone_subscription(runtime: Runtime, sub_id: str, copies: int, started: datetime | None) -> list[str]:
    """``copies`` more subscriptions like ``sub_id``, each with its own application, shared
    customer (and ledger customer), ledger subscription and monetized subscription."""
    tables = (
        Application,
        Subscription,
        LedgerCustomer,
        MonSharedCustomer,
        LedgerSubscription,
        MonSubscription,
    )
    apps, subs, customers, shared, ledger_subs, mon_subs = (cast(Table, model.__table__) for model in tables)
    made: list[str] = []
    with runtime.engine.begin() as conn:
        t_sub = _row(conn, subs, id=sub_id)
        t_app = _row(conn, apps, id=t_sub["application_id"])
        t_mon = _row(conn, mon_subs, subscription_id=sub_id)
        t_shared = _row(conn, shared, id=t_mon["shared_customer_id"])
        t_customer = _row(conn, customers, id=t_shared["engine_customer_id"])
        t_ledger = _row(conn, ledger_subs, id=t_mon["engine_subscription_id"])
    for offset in range(1, copies + 1, CLONES_PER_TRANSACTION):
        rows: dict[Table, list[dict[str, Any]]] = {  # parents before children
            t: [] for t in (apps, subs, customers, shared, ledger_subs, mon_subs)
        }
        for n in range(offset, min(offset + CLONES_PER_TRANSACTION, copies + 1)):
            app_id, new_sub, shared_id, mon_id = (str(uuid.uuid4()) for _ in range(4))
            customer_id, ledger_id = f"lcus_bench{n}", f"lsub_bench{n}"
            began = started - timedelta(milliseconds=n) if started else t_mon["started_at"]
            rows[apps].append(t_app | {"id": app_id, "name": f"app{n}"})
            rows[subs].append(t_sub | {"id": new_sub, "application_id": app_id})
            rows[customers].append(t_customer | {"id": customer_id})
            rows[shared].append(
                t_shared | {"id": shared_id, "application_id": app_id, "engine_customer_id": customer_id}
            )
            rows[ledger_subs].append(
                t_ledger | {"id": ledger_id, "customer_id": customer_id, "anchor_at": began}
            )
            rows[mon_subs].append(
                t_mon
                | {
                    "id": mon_id,
                    "subscription_id": new_sub,
                    "application_id": app_id,
                    "engine_subscription_id": ledger_id,
                    "shared_customer_id": shared_id,
                    "started_at": began,
                }
            )
            made.append(new_sub)
        with runtime.engine.begin() as conn:
            for table, values in rows.items():
                conn.execute(table.insert(), values)
    return made
