"""Usage over NATS JetStream: gateway nodes forward their spools, ``tollway meter`` consumers store.

Real ``nats-server -js`` (its own port and store), real ``tollway gateway`` and ``tollway meter``
processes on the test's database; faults are SIGKILLs of real processes and a TCP relay to the
database that is cut.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from sqlalchemy.engine import make_url

from tests.core.test_serve_stops import Serve, calls, new_ports
from tests.gateway.nats_support import NatsServer
from tests.gateway.support import Backend, World, wait_until
from tests.gateway.test_process import TOLLWAY, Load, rolled_up, start_gateway, stored, wait_serving
from tests.support.processes import LoggedProcess
from tests.support.relay import TcpRelay
from tests.support.servers import free_port
from tollway.config import MeteringSettings
from tollway.metering.events import UsageEvent
from tollway.metering.meter import run_meters
from tollway.metering.nats_sink import NatsSink
from tollway.metering.nats_stream import StreamSettings, messages
from tollway.metering.spool import decode_lines
from tollway.runtime import Runtime


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.kill()


def metering_config(server: NatsServer, **more: object) -> str:
    lines = ["[metering]", 'sink = "nats"', f'nats_url = "{server.url}"', "nats_ack_wait = 2"]
    lines += [f"{key} = {value}" for key, value in more.items()]
    return "\n".join(lines) + "\n"


def events(count: int, subscription: str, prefix: str = "e") -> list[UsageEvent]:
    now = int(time.time() * 1_000_000) / 1_000_000  # whole microseconds, as the spool keeps them
    return [
        UsageEvent(
            f"{prefix}-{n:012x}", now, "t1", "api", "app", subscription, "Gold", 200, n % 3 != 0, 1500, 10, 20
        )
        for n in range(count)
    ]


class Meters:
    """``run_meters`` in a thread of the test, stopped by ``stop()`` like SIGTERM stops it."""

    def __init__(self, runtime: Runtime, metering: MeteringSettings, count: int = 1) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        coro = run_meters(metering, runtime.engine, count, self._stop)
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(coro,), daemon=True)

    def __enter__(self) -> Meters:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive()


async def left_in_stream(server: NatsServer, stream: str) -> int:
    client = await nats.connect(server.url)
    try:
        return int((await client.jetstream().stream_info(stream)).state.messages)
    finally:
        await client.close()


# ---------------------------------------------------------------------------------- messages


def test_a_batch_is_split_into_messages_under_the_servers_payload_limit() -> None:
    batch = events(2000, "s1")
    sent = messages(batch, max_payload=64 * 1024)
    assert len(sent) > 1
    assert all(len(payload) <= 64 * 1024 for _, payload in sent)
    back = [event for _, payload in sent for event in decode_lines(payload)]
    assert back == batch  # every event once, in order, field for field
    assert len({message_id for message_id, _ in sent}) == len(sent)
    assert messages(batch, max_payload=64 * 1024) == sent  # a resend carries the same ids


def test_usage_sent_twice_is_stored_once_and_every_message_is_acknowledged(
    runtime: Runtime, nats_server: NatsServer, tmp_path: Path
) -> None:
    metering = MeteringSettings(sink="nats", nats_url=nats_server.url, nats_ack_wait=2)
    sink = NatsSink(StreamSettings.of(metering))
    batch = events(3000, "s1")
    try:
        assert sink.write(batch) == 3000
        assert sink.write(batch) == 3000  # a retry after a lost acknowledgement
        assert sink.write(batch[1000:2000]) == 1000  # a restarted writer re-reading a segment
    finally:
        sink.close()
    with Meters(runtime, metering, count=2):
        wait_until(lambda: stored(runtime) == 3000, 20, step=0.05)
        time.sleep(0.5)
    assert stored(runtime) == 3000
    assert stored(runtime, billable_only=True) == sum(e.billable for e in batch)
    assert rolled_up(runtime) == 3000
    # work queue: acknowledged messages are gone
    assert asyncio.run(left_in_stream(nats_server, metering.nats_stream)) == 0


def test_a_gateway_keeps_usage_in_its_spool_while_nats_is_away(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path, nats_server: NatsServer
) -> None:
    port = free_port()
    nats_server.kill()
    node = start_gateway(runtime, tmp_path, port, workers=1, extra=metering_config(nats_server))
    meter = start_meter(runtime, tmp_path, metering_config(nats_server))
    try:
        wait_serving(port, node)
        with Load(f"http://127.0.0.1:{port}", world.tokens["app1"], threads=2) as load:
            time.sleep(1.0)
        answered = load.received[200]
        assert answered > 20
        spool = tmp_path / "node" / "spool"
        assert sum(path.stat().st_size for path in spool.iterdir()) > 0  # kept, not forwarded
        assert stored(runtime) == 0
        nats_server.start()
        wait_until(lambda: stored(runtime, billable_only=True) == answered, 30, step=0.1)
    finally:
        outputs = stop_all([node, meter])
    assert stored(runtime, billable_only=True) == rolled_up(runtime) == answered
    assert "unreachable" in outputs[1], outputs[1]
    assert all("Traceback" not in out for out in outputs[:1]), outputs


# --------------------------------------------------------------------------------- end to end


def start_meter(
    runtime: Runtime, tmp_path: Path, extra: str, database_url: str | None = None
) -> subprocess.Popen[bytes]:
    folder = tmp_path / f"meter-{time.monotonic_ns()}"
    folder.mkdir()
    config = folder / "meter.toml"
    config.write_text(f'[database]\nurl = "{database_url or runtime.settings.database_url}"\n{extra}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    return LoggedProcess(
        [*TOLLWAY, "meter", "--config", str(config), "--data-dir", str(folder)], folder / "meter.log", env
    )


def stop_all(processes: list[subprocess.Popen[bytes]]) -> list[str]:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    outputs = []
    for process in processes:
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        outputs.append(out.decode() if out else "")
    return outputs


def test_two_nodes_and_two_meters_through_kills_and_a_nats_restart_store_each_answer_once(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path, nats_server: NatsServer
) -> None:
    """A node SIGKILLed and restarted, a meter SIGKILLed and restarted, NATS SIGKILLed and
    restarted, all under load: what is stored is what the clients received, plus at most the
    calls the killed node had answered when it died (their clients saw the connection drop)."""
    extra = metering_config(nats_server, flush_interval=0.05)
    folders = [tmp_path / "node0", tmp_path / "node1"]
    ports = [free_port(), free_port()]
    for folder in folders:
        folder.mkdir()
    nodes = [
        start_gateway(runtime, f, p, workers=1, extra=extra) for f, p in zip(folders, ports, strict=True)
    ]
    meters = [start_meter(runtime, tmp_path, extra) for _ in range(2)]
    finished: list[subprocess.Popen[bytes]] = []
    try:
        for port, node in zip(ports, nodes, strict=True):
            wait_serving(port, node)
        loads = [Load(f"http://127.0.0.1:{port}", world.tokens["app1"], threads=2) for port in ports]
        for load in loads:
            load.__enter__()
        try:
            time.sleep(1.0)
            os.kill(nodes[0].pid, signal.SIGKILL)  # node 0 dies with events in its spool
            nodes[0].wait(10)
            finished.append(nodes[0])
            nodes[0] = start_gateway(runtime, folders[0], ports[0], workers=1, extra=extra)
            wait_serving(ports[0], nodes[0])
            time.sleep(0.7)
            os.kill(meters[0].pid, signal.SIGKILL)  # its fetched messages go to the other after ack_wait
            meters[0].wait(10)
            finished.append(meters[0])
            time.sleep(0.7)
            meters[0] = start_meter(runtime, tmp_path, extra)
            time.sleep(0.5)
            nats_server.kill()  # the nodes keep serving; their spools hold the usage
            time.sleep(1.0)
            nats_server.start()
            time.sleep(1.0)
        finally:
            for load in loads:
                load.__exit__()
        received = sum(load.received[200] for load in loads)
        wait_until(lambda: stored(runtime, billable_only=True) >= received, 60, step=0.2)
        time.sleep(2.5)  # anything still to come (a redelivery) would come within the ack wait
    finally:
        outputs = stop_all(nodes + meters)
        for process in finished:
            process.communicate(timeout=10)
    metered = stored(runtime, billable_only=True)
    assert received > 300
    # node 0 died with at most one call per client thread in flight: answered and spooled, maybe,
    # but cut off before its client had it.
    assert received <= metered <= received + 2
    assert rolled_up(runtime) == metered  # each stored call rolled up exactly once
    assert backend.sent[200] >= metered
    assert not [out[out.index("Traceback") - 300 :] for out in outputs if "Traceback" in out]
    assert not [p for folder in folders for p in (folder / "node" / "spool").iterdir()]


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_the_nats_sink_stores_every_call_through_its_own_meter_and_stops_clean(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path, nats_server: NatsServer, workers: int
) -> None:
    """One `tollway serve` with ``sink = "nats"``: its meter stores what its gateway sends while
    it runs, and a SIGTERM in the middle of traffic leaves nothing in the stream or the spool."""
    data, ports = tmp_path / "node", new_ports()
    env = {"TOLLWAY_METERING__SINK": "nats", "TOLLWAY_METERING__NATS_URL": nats_server.url}
    serve = Serve(runtime, data, ports, workers, env=env)
    try:
        serve.wait_serving()
        calls(serve, world, 20)
        wait_until(lambda: stored(runtime, billable_only=True) == 20, 30, step=0.05)
        with Load(serve.gateway, world.tokens["app1"]) as load:
            time.sleep(0.5)
            output = serve.stop()
    finally:
        serve.stop(signal.SIGKILL)
    assert serve.proc.returncode == 0, output
    assert load.received[200] > 0
    assert stored(runtime, billable_only=True) == rolled_up(runtime) == 20 + load.received[200], output
    assert "Traceback" not in output and "stay in NATS" not in output, output
    assert asyncio.run(left_in_stream(nats_server, MeteringSettings().nats_stream)) == 0
    assert not [p.name for p in (data / "spool").iterdir()], output


def test_meters_store_everything_after_the_database_was_unreachable(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path, nats_server: NatsServer
) -> None:
    url = make_url(runtime.settings.database_url)
    if url.get_backend_name() == "sqlite":
        pytest.skip("an SQLite database is a file beside the meter: it cannot be unreachable")
    relay = TcpRelay(
        (url.host or "127.0.0.1", url.port or (5432 if "postgresql" in url.drivername else 3306))
    )
    relay.start()
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    extra = metering_config(nats_server)
    port = free_port()
    node = start_gateway(runtime, tmp_path, port, workers=1, extra=extra)
    meter = start_meter(runtime, tmp_path, extra, database_url=relayed)
    try:
        wait_serving(port, node)
        with Load(f"http://127.0.0.1:{port}", world.tokens["app1"], threads=2) as load:
            time.sleep(0.6)
            relay.cut()
            time.sleep(1.5)
            relay.restore()
            time.sleep(0.6)
        answered = load.received[200]
        wait_until(lambda: stored(runtime, billable_only=True) == answered, 60, step=0.2)
    finally:
        outputs = stop_all([node, meter])
        relay.stop()
    assert answered > 50
    assert stored(runtime, billable_only=True) == rolled_up(runtime) == answered
    assert "they go back to the stream" in outputs[1], outputs[1]
