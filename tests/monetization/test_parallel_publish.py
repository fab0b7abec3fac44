"""Parallel ``POST …/monetization/publish-usage`` must not starve the control plane's connection pool.

A burst of publish requests against a live control plane with a small pool (5 + 10 overflow,
as in the report) while a job runs on another node: every one is refused at once (409), none
fails (5xx) or holds two connections, and an unrelated endpoint called meanwhile answers about as
fast as before the burst. Once that job ends, the next request starts one (202).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.support.identity import Caller
from tests.support.rest import ADMIN, POLICIES, expect
from tests.support.servers import ServerThread
from tollway.config import Settings, load_settings
from tollway.publishing import jobs, locks
from tollway.runtime import Runtime
from tollway.web.app import create_app

BURST = 50
POOL_SIZE = 5
PUBLISH = f"{ADMIN}/monetization/publish-usage"
# The broken endpoint made unrelated calls wait for the pool's 30 s timeout (then 500); fixed, the
# worst call during the burst took 0.7-1.5 s on a loaded 2-core machine (50 client threads and the
# server in one process), 0.07-0.12 s before it. Generous for such a machine, far below 30 s.
WORST_LATENCY_S = 10.0


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={
            "server": {"data_dir": str(tmp_path / "data")},
            "database": {"url": database_url, "pool_size": POOL_SIZE},
        },
    )


@pytest.fixture
def job_elsewhere(runtime: Runtime) -> Iterator[str]:
    """A usage-publishing job runs on another node: it holds the job lock (a real lease in the
    shared database) for the whole burst."""
    holder = locks.new_holder()
    assert locks.acquire(runtime.session_factory, jobs.LOCK, holder, jobs.LEASE)
    yield holder
    locks.release(runtime.session_factory, jobs.LOCK, holder)


_REQUEST: contextvars.ContextVar[list[int]] = contextvars.ContextVar("request_connections")


@pytest.fixture
def most_held_by_a_request(runtime: Runtime) -> Iterator[list[int]]:
    """The most pooled connections any one HTTP request held at once (``[n]``, filled in as it
    runs): each request's task gets a counter that its worker threads see (they run in a copy
    of its context); a connection returned is counted off the request that took it."""
    most = [0]
    guard = threading.Lock()

    def checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        held = _REQUEST.get(None)
        if held is not None:
            with guard:
                held[0] += 1
                most[0] = max(most[0], held[0])
            record.info["request"] = held

    def checkin(_dbapi: Any, record: Any) -> None:
        held = record.info.pop("request", None)
        if held is not None:
            with guard:
                held[0] -= 1

    event.listen(runtime.engine, "checkout", checkout)
    event.listen(runtime.engine, "checkin", checkin)
    yield most
    event.remove(runtime.engine, "checkout", checkout)
    event.remove(runtime.engine, "checkin", checkin)


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[ServerThread]:
    """The control plane over real HTTP, each request counting the connections it holds."""
    app = create_app(runtime)

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            _REQUEST.set([0])
        await app(scope, receive, send)

    with ServerThread(counted) as server:
        yield server


def _latency(client: httpx.Client, admin: Caller) -> float:
    began = time.monotonic()
    answer = client.get(POLICIES, headers=admin.headers)
    took = time.monotonic() - began
    assert answer.status_code == 200, answer.text
    return took


def test_a_burst_of_publish_requests_leaves_the_control_plane_responsive(
    live_server: ServerThread,
    http: httpx.Client,
    admin: Caller,
    runtime: Runtime,
    job_elsewhere: str,
    most_held_by_a_request: list[int],
) -> None:
    baseline = [_latency(http, admin) for _ in range(10)]

    start = threading.Barrier(BURST + 1)
    statuses: list[int] = []
    bodies: list[dict[str, Any]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def publish() -> None:
        with httpx.Client(base_url=live_server.url, timeout=90) as client:
            start.wait(30)
            try:
                answer = client.post(PUBLISH, headers=admin.headers)
            except httpx.HTTPError as exc:
                with lock:
                    failures.append(repr(exc))
                return
            with lock:
                statuses.append(answer.status_code)
                if answer.status_code in (202, 409):
                    bodies.append(answer.json())

    during: list[float] = []
    unrelated_errors: list[str] = []
    burst_done = threading.Event()

    def unrelated() -> None:
        with httpx.Client(base_url=live_server.url, timeout=90) as client:
            while not burst_done.is_set():
                try:
                    during.append(_latency(client, admin))
                except (AssertionError, httpx.HTTPError) as exc:
                    unrelated_errors.append(repr(exc))
                    return
                time.sleep(0.01)

    watcher = threading.Thread(target=unrelated)
    watcher.start()
    senders = [threading.Thread(target=publish) for _ in range(BURST)]
    for sender in senders:
        sender.start()
    start.wait(30)
    for sender in senders:
        sender.join(120)
    burst_done.set()
    watcher.join(120)

    assert not failures and not unrelated_errors, (failures, unrelated_errors)
    assert len(statuses) == BURST
    assert not [s for s in statuses if s >= 500], sorted(statuses)
    assert statuses == [409] * BURST, sorted(statuses)
    assert (
        bodies
        == [{"status": "Server could not accept the request", "message": "A job is already running"}] * BURST
    )
    assert most_held_by_a_request[0] == 1, "a request held two pooled connections at once"
    assert during, "the unrelated endpoint was never called during the burst"
    assert max(during) < max(WORST_LATENCY_S, 10 * max(baseline)), (max(baseline), max(during))

    # Once the other node's job ends, the next request starts one here, which runs to its end.
    locks.release(runtime.session_factory, jobs.LOCK, job_elsewhere)
    expect(http.post(PUBLISH, headers=admin.headers), 202)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = expect(http.get(f"{PUBLISH}/status", headers=admin.headers), 200)
        if status["state"] == "COMPLETED":
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the usage-publishing job did not complete")
    assert status["status"] == "SUCCESSFUL"
