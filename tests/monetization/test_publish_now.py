"""'Publish now' right after calls bills every call answered before the request.

A real gateway takes the calls (its spool writer stores them as it always does), the admin asks
for publishing over REST at once, and the ledger's open invoice has every one of them; the
status document says the cut-off the run used (``lastPublishedTime``: the moment the job was
asked for, its ``startedTime``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.gateway.support import Backend, GatewayThread, add_app, change, default_world, wait_until
from tests.monetization.world import World
from tests.support.identity import Caller
from tests.support.rest import ADMIN, expect
from tollway.db.base import utcnow
from tollway.metering.events import UsageEvent
from tollway.models import Api, Subscription, UsagePublishJob
from tollway.publishing import jobs, usage_publisher


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend().start()
    yield server
    server.stop()


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _publish_and_wait(http: httpx.Client, admin: Caller) -> dict[str, Any]:
    expect(http.post(f"{ADMIN}/monetization/publish-usage", headers=admin.headers), 202)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = expect(http.get(f"{ADMIN}/monetization/publish-usage/status", headers=admin.headers), 200)
        if status["state"] == "COMPLETED":
            return dict(status)
        time.sleep(0.02)
    raise AssertionError("the usage-publishing job did not complete")


def _quantity(world: World, sub: str) -> int:
    return sum(line.quantity for line in world.invoice(sub).lines)


def test_publish_now_right_after_calls_through_a_gateway_bills_every_call(
    world: World, backend: Backend, http: httpx.Client, admin: Caller
) -> None:
    runtime = world.runtime
    world.policy("Pro", price="0.0004")
    api_id = world.api()
    change(
        runtime,
        Api,
        api_id,
        endpoint_config={"endpoint_type": "http", "production_endpoints": {"url": backend.url}},
    )
    world.monetize(api_id)
    keys = default_world(runtime)
    app_id = add_app(runtime, keys, "caller")
    sub = world.subscribe(app_id, api_id)
    change(runtime, Subscription, sub, status="UNBLOCKED")  # the gateway reloads its snapshot
    with world.tx() as session:
        context = session.scalars(select(Api.context).where(Api.id == api_id)).one()
    url = f"{context}/1.0.0/status/200"
    headers = {"apikey": keys.keys["caller"]}

    answered = 0
    with GatewayThread(runtime) as gateway, httpx.Client(base_url=gateway.url, timeout=10) as client:

        def served() -> bool:
            nonlocal answered
            ok = client.get(url, headers=headers).status_code == 200
            answered += ok
            return ok

        wait_until(served, 20)
        for _ in range(400):
            assert client.get(url, headers=headers).status_code == 200
            answered += 1
        last_answer = utcnow()

        status = _publish_and_wait(http, admin)  # at once: the gateway's writer stores meanwhile

    assert status["status"] == "SUCCESSFUL"
    assert _quantity(world, sub) == answered  # every call answered before the request is billed
    cut_off = int(status["lastPublishedTime"])
    assert status["lastPublsihedTime"] == status["lastPublishedTime"]
    assert cut_off == int(status["startedTime"])  # the run's cut-off: the moment it was asked for
    assert cut_off >= _epoch_ms(last_answer)
    with world.tx() as session:
        job = session.scalars(select(UsagePublishJob)).one()
        assert job.published_until is not None and _epoch_ms(job.published_until) == cut_off


def _events(world: World, sub: str, count: int, at: datetime, tag: str) -> list[UsageEvent]:
    tenant_id, api_id, app_id = world.owners[sub]
    return [
        UsageEvent(
            id=f"{tag}-{i}",
            time=at.timestamp(),
            tenant_id=tenant_id,
            api_id=api_id,
            application_id=app_id,
            subscription_id=sub,
            tier="Pro",
            status=200,
            billable=True,
            latency_us=100,
            request_bytes=10,
            response_bytes=10,
        )
        for i in range(count)
    ]


def test_a_job_waits_for_usage_of_calls_before_it_that_is_still_being_stored(world: World) -> None:
    world.policy("Pro")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.backdate(sub, timedelta(hours=1))
    world.calls(sub, 5)  # stored already

    job = jobs.start(world.svc, world.runtime.session_factory, "api")
    with world.tx() as session:
        row = session.get(UsagePublishJob, job.id)
        assert row is not None
        started = row.started_at
    # Calls answered just before the job was asked for, whose events a spool writer stores a
    # moment after the job started.
    late_writer = threading.Timer(
        0.05, lambda: world.sink.write(_events(world, sub, 7, started - timedelta(milliseconds=1), "w"))
    )
    late_writer.start()
    result = job.run()
    late_writer.join()
    assert result is not None and result.failed == 0
    assert result.until == started
    assert result.calls == 12
    assert _quantity(world, sub) == 12
    # Calls after the cut-off wait for the next run.
    world.calls(sub, 3, at=started + timedelta(milliseconds=1))
    assert _quantity(world, sub) == 12
    with world.tx() as session:
        status = jobs.status(session)
    assert status["lastPublishedTime"] == status["startedTime"] == str(_epoch_ms(started))


def test_the_wait_is_bounded_when_usage_before_the_cut_off_keeps_arriving(world: World) -> None:
    world.policy("Pro")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    cut_off = utcnow()
    clock = [0.0]
    looks = []

    def sleep(seconds: float) -> None:  # a writer far behind stores one more old call at each look
        clock[0] += seconds
        looks.append(clock[0])
        world.sink.write(_events(world, sub, 1, cut_off - timedelta(seconds=1), f"s{len(looks)}"))

    waited = usage_publisher.wait_for_stored(
        world.runtime.session_factory,
        cut_off,
        quiet=0.25,
        limit=timedelta(seconds=2),
        clock=lambda: clock[0],
        sleep=sleep,
    )
    assert waited == pytest.approx(2.0)
    assert len(looks) == pytest.approx(2.0 / usage_publisher.DRAIN_STEP, abs=1)

    # Nothing arriving: one quiet spell, then on.
    clock[0], looks[:] = 0.0, []
    quiet = usage_publisher.wait_for_stored(
        world.runtime.session_factory,
        cut_off,
        quiet=0.25,
        clock=lambda: clock[0],
        sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds),
    )
    assert quiet == pytest.approx(0.25, abs=usage_publisher.DRAIN_STEP)
