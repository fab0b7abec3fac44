"""Billing-grade metering: every request is one event; billable = what the backend answered 2xx/3xx."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from tests.gateway.support import (
    Backend,
    GatewayThread,
    World,
    add_app,
    add_policy,
    bearer,
    body_of,
    subscribe,
    wait_until,
)
from tollway.db.base import utcnow
from tollway.metering.queries import usage_counts
from tollway.models.usage import UsageEventRow, UsageRollup
from tollway.runtime import Runtime

BACKEND_STATUSES = [200, 201, 204, 301, 302, 304, 400, 404, 418, 500, 502, 503]


def stored_events(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(UsageEventRow)) or 0)


def test_thousands_of_mixed_requests_are_metered_exactly(
    runtime: Runtime, backend: Backend, world: World
) -> None:
    add_policy(
        runtime, world, "Tight", rate_limit_count=15, rate_limit_time_unit="sec", billing_plan="COMMERCIAL"
    )
    add_app(runtime, world, "app2")
    subscribe(runtime, world, "app2", "shop", "Tight")
    began = utcnow()
    rng = random.Random(1234)
    plan: list[tuple[str, dict[str, str]]] = []
    for _ in range(3000):
        roll = rng.random()
        if roll < 0.06:
            plan.append(("/shop/1.0.0/status/200", {"Authorization": "Bearer garbage-" + str(rng.random())}))
        elif roll < 0.08:
            plan.append(("/shop/1.0.0/status/200", {}))
        elif roll < 0.25:  # bursts past app2's 15 per second: a share of these gets 429
            plan.append((f"/shop/1.0.0/status/{rng.choice(BACKEND_STATUSES)}", bearer(world.tokens["app2"])))
        else:
            plan.append((f"/shop/1.0.0/status/{rng.choice(BACKEND_STATUSES)}", bearer(world.tokens["app1"])))

    seen: Counter[int] = Counter()
    by_app: Counter[str] = Counter()

    with GatewayThread(runtime) as gateway:

        async def send_all() -> None:
            limits = httpx.Limits(max_connections=24)
            async with httpx.AsyncClient(base_url=gateway.url, limits=limits, timeout=30) as client:
                gate = asyncio.Semaphore(24)

                async def one(path: str, headers: dict[str, str]) -> None:
                    async with gate:
                        response = await client.get(path, headers=headers, follow_redirects=False)
                    seen[response.status_code] += 1
                    auth = headers.get("Authorization", "")
                    if auth == f"Bearer {world.tokens['app1']}":
                        by_app["app1"] += 1
                    elif auth == f"Bearer {world.tokens['app2']}":
                        by_app["app2"] += 1

                await asyncio.gather(*(one(path, headers) for path, headers in plan))

        asyncio.run(send_all())
        wait_until(lambda: stored_events(runtime) == len(plan), 15, step=0.05)

    backend_billable = sum(n for status, n in backend.sent.items() if 200 <= status < 400)
    backend_total = sum(backend.sent.values())
    assert seen[429] > 0 and seen[401] > 0  # the mix really had refusals
    assert backend_total == len(plan) - seen[429] - seen[401]

    with runtime.session_factory() as session:
        statuses = Counter(
            dict(
                session.execute(
                    select(UsageEventRow.status_code, func.count()).group_by(UsageEventRow.status_code)
                ).all()
            )
        )
        billable_raw = session.scalar(select(func.count()).where(UsageEventRow.billable.is_(True)))
        rolled = session.execute(
            select(func.sum(UsageRollup.billable_count), func.sum(UsageRollup.total_count))
        ).one()
        counts = usage_counts(session, None, began - timedelta(minutes=1), utcnow() + timedelta(minutes=1))

    assert statuses == seen  # one event per answer the client got, with the status it got
    assert billable_raw == backend_billable
    assert (rolled[0], rolled[1]) == (backend_billable, by_app["app1"] + by_app["app2"])
    sub1, sub2 = world.subs[("app1", "shop")], world.subs[("app2", "shop")]
    assert counts[sub1][1] == by_app["app1"]
    assert counts[sub2][1] == by_app["app2"]
    assert counts[sub1][0] + counts[sub2][0] == backend_billable


def test_billable_status_classes_are_configurable(runtime: Runtime, backend: Backend, world: World) -> None:
    settings = runtime.settings.model_copy(
        update={"gateway": runtime.settings.gateway.model_copy(update={"billable_status_classes": ["2xx"]})}
    )
    with GatewayThread(runtime, settings) as gateway:
        with httpx.Client(base_url=gateway.url, headers=bearer(world.tokens["app1"])) as client:
            for status in (200, 302, 404):
                assert (
                    client.get(f"/shop/1.0.0/status/{status}", follow_redirects=False).status_code == status
                )
        wait_until(lambda: stored_events(runtime) == 3, 10)
    with runtime.session_factory() as session:
        billable = dict(session.execute(select(UsageEventRow.status_code, UsageEventRow.billable)).all())
    assert billable == {200: True, 302: False, 404: False}


def test_events_carry_who_called_what_and_how_it_went(
    runtime: Runtime, gateway: GatewayThread, world: World
) -> None:
    response = httpx.post(
        f"{gateway.url}/shop/1.0.0/status/201", content=b"x" * 1000, headers=bearer(world.tokens["app1"])
    )
    assert response.status_code == 201
    wait_until(lambda: stored_events(runtime) == 1, 10)
    with runtime.session_factory() as session:
        event = session.scalars(select(UsageEventRow)).one()
    assert (event.tenant_id, event.api_id, event.application_id) == (
        world.tenant_id,
        world.apis["shop"],
        world.apps["app1"],
    )
    assert (event.subscription_id, event.tier, event.status_code, event.billable) == (
        world.subs[("app1", "shop")],
        "Open",
        201,
        True,
    )
    assert event.request_bytes > 1000
    assert event.response_bytes == len(response.content) + sum(
        len(k) + len(v) + 4 for k, v in response.headers.raw
    ) + len(b"HTTP/1.1 201 Created\r\n\r\n")
    assert 0 < event.latency_us < 5_000_000
    assert abs((utcnow() - event.time).total_seconds()) < 10


def test_when_the_database_refuses_events_they_wait_in_order_and_a_full_buffer_answers_503(
    runtime: Runtime, backend: Backend, world: World
) -> None:
    settings = runtime.settings.model_copy(
        update={"metering": runtime.settings.metering.model_copy(update={"buffer_limit": 1000})}
    )
    with GatewayThread(runtime, settings) as gateway, httpx.Client(base_url=gateway.url) as client:
        auth = bearer(world.tokens["app1"])
        with runtime.engine.begin() as conn:  # the sink's table disappears: every batch fails
            conn.exec_driver_sql("ALTER TABLE usage_events RENAME TO usage_events_away")
        try:
            served = 0
            while (answer := client.get("/shop/1.0.0/status/200", headers=auth)).status_code == 200:
                served += 1
                assert served <= 1000
            assert served == 1000  # the buffer holds buffer_limit events, then the gateway refuses
            assert answer.status_code == 503
            assert "metering" in body_of(answer)["description"].lower()
        finally:
            with runtime.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE usage_events_away RENAME TO usage_events")
        # The table is back: the retried batches land, nothing lost, and calls pass again.
        wait_until(lambda: stored_events(runtime) == 1000, 20, step=0.1)
        wait_until(lambda: client.get("/shop/1.0.0/status/200", headers=auth).status_code == 200, 10)
    with runtime.session_factory() as session:
        assert session.scalar(select(func.sum(UsageRollup.billable_count))) == 1001
