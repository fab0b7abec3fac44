"""``GET /_tollway/health`` on a real ``tollway gateway``: UP with no metering backlog while the
events are stored; with NATS (the sink) killed, the backlog it reports grows with the calls and
their age, the node turns DOWN (503) at ``buffer_limit``, and it is UP again with an empty
backlog once NATS is back. Probes are never metered."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.nats_support import NatsServer
from tests.gateway.support import Backend, World, bearer, wait_until
from tests.gateway.test_process import start_gateway, stored, wait_serving
from tests.support.servers import free_port
from tollway.runtime import Runtime


def health(port: int) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"http://127.0.0.1:{port}/_tollway/health", timeout=5)
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


def call(port: int, world: World) -> int:
    url = f"http://127.0.0.1:{port}/shop/1.0.0/status/200"
    return httpx.get(url, headers=bearer(world.tokens["app1"]), timeout=5).status_code


def test_health_is_up_with_no_backlog_and_probes_are_not_metered(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path
) -> None:
    port = free_port()
    node = start_gateway(runtime, tmp_path, port, workers=2)
    try:
        wait_serving(port, node, workers=2)
        for _ in range(30):
            assert call(port, world) == 200
        wait_until(lambda: health(port)[1]["metering"]["backlogEvents"] == 0, 20, step=0.05)
        before = stored(runtime)
        for _ in range(20):  # both workers answer some of them (SO_REUSEPORT)
            status, document = health(port)
            assert status == 200
            assert document["status"] == "UP"
            assert document["metering"]["sink"] == "database"
            assert document["metering"]["refusingCalls"] is False
            assert document["limits"] == {"store": "local", "shared": True, "refusingCalls": False}
        time.sleep(0.5)
        assert stored(runtime) == before  # probes are nobody's calls
        assert httpx.post(f"http://127.0.0.1:{port}/_tollway/health", timeout=5).status_code == 404
    finally:
        node.send_signal(signal.SIGTERM)
        node.communicate(timeout=60)


def test_health_reports_the_backlog_while_nats_is_away_and_turns_down_at_the_buffer_limit(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path
) -> None:
    nats_server = NatsServer(tmp_path / "nats").start()
    port = free_port()
    extra = f'[metering]\nsink = "nats"\nnats_url = "{nats_server.url}"\nbuffer_limit = 1000\n'
    nats_server.kill()
    node = start_gateway(runtime, tmp_path, port, workers=1, extra=extra)
    try:
        wait_serving(port, node)  # its probe is an event (a 404) that waits too
        for _ in range(20):
            assert call(port, world) == 200
        time.sleep(1.0)
        status, document = health(port)
        assert status == 200 and document["status"] == "UP"
        metering = document["metering"]
        assert metering["sink"] == "nats" and metering["bufferLimit"] == 1000
        assert 20 <= metering["backlogEvents"] < 1000
        assert metering["backlogSeconds"] >= 1.0
        url = f"http://127.0.0.1:{port}/shop/1.0.0/status/200"
        with httpx.Client(headers=bearer(world.tokens["app1"]), timeout=5) as client:
            for _ in range(1000):  # until the node refuses: buffer_limit events waiting
                if (answer := client.get(url).status_code) != 200:
                    break
        assert answer == 503
        status, document = health(port)
        assert status == 503 and document["status"] == "DOWN"
        assert document["metering"]["refusingCalls"] is True
        assert document["metering"]["backlogEvents"] >= 1000
        nats_server.start()
        wait_until(lambda: health(port)[0] == 200, 60, step=0.1)
        status, document = health(port)
        assert document["status"] == "UP" and document["metering"]["backlogEvents"] == 0
        assert document["metering"]["backlogSeconds"] == 0
        assert call(port, world) == 200
    finally:
        node.send_signal(signal.SIGTERM)
        output, _ = node.communicate(timeout=60)
        nats_server.kill()
    assert b"Traceback" not in output, output.decode()
