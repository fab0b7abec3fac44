"""`tollway serve` stopped cleanly or killed, and started again: every metered call stored once,
and only a kill is reported as one. A second start on a taken port names it and ends before it
touches the running instance's data folder (its spool above all)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.gateway.support import (
    Backend,
    World,
    add_api,
    add_app,
    add_policy,
    bearer,
    default_world,
    subscribe,
    wait_until,
)
from tests.support.servers import free_port
from tollway.models.usage import UsageEventRow
from tollway.runtime import Runtime

TOLLWAY = [sys.executable, "-m", "tollway"]
ABRUPT = "left by a gateway that stopped abruptly"


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend().start()
    yield server
    server.stop()


@pytest.fixture
def world(runtime: Runtime, backend: Backend) -> World:
    seeded = default_world(runtime)
    add_policy(runtime, seeded, "Open")
    add_api(runtime, seeded, "shop", backend.url)
    add_app(runtime, seeded, "app1")
    subscribe(runtime, seeded, "app1", "shop", "Open")
    return seeded


class Serve:
    """One `tollway serve` (or ``command``) on the test database, its output in a file."""

    def __init__(
        self,
        runtime: Runtime,
        data_dir: Path,
        ports: dict[str, int],
        workers: int = 1,
        command: str = "serve",
        env: dict[str, str] | None = None,
    ) -> None:
        self.ports = ports
        self.log = data_dir.parent / f"{command}-{time.monotonic_ns()}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
        environ.update(
            TOLLWAY_DATABASE__URL=runtime.settings.database_url,
            TOLLWAY_ADMIN_PASSWORD="admin",
            TOLLWAY_GATEWAY__WORKERS=str(workers),
            **(env or {}),
        )
        argv = [*TOLLWAY, command, "--data-dir", str(data_dir)]
        for option, port in ports.items():
            argv += [f"--{option}", str(port)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, cwd=data_dir.parent, env=environ, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway-port']}"

    def output(self) -> str:
        return self.log.read_text()

    def wait_serving(self) -> None:
        def answering() -> bool:
            assert self.proc.poll() is None, self.output()
            try:
                return httpx.get(f"{self.gateway}/nothing/1/x", timeout=1).status_code == 404
            except httpx.HTTPError:
                return False

        wait_until(answering, 60, step=0.05)

    def stop(self, signum: int = signal.SIGTERM) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise
        return self.output()


def new_ports() -> dict[str, int]:
    return {name: free_port() for name in ("port", "http-port", "gateway-port", "gateway-https-port")}


def stored(runtime: Runtime, world: World) -> int:
    with runtime.session_factory() as session:
        query = select(func.count()).select_from(UsageEventRow)
        query = query.where(UsageEventRow.api_id == world.apis["shop"])
        return int(session.scalar(query) or 0)


class Load:
    """Threads calling the API until stopped; counts the answers clients received whole."""

    def __init__(self, url: str, token: str, threads: int = 3) -> None:
        self.url, self.token = url, token
        self.received: Counter[int] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(headers=bearer(self.token), timeout=5) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(f"{self.url}/shop/1.0.0/status/200").status_code
                except httpx.HTTPError:
                    time.sleep(0.01)
                    continue
                with self._lock:
                    self.received[status] += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)


def calls(serve: Serve, world: World, count: int) -> None:
    with httpx.Client(headers=bearer(world.tokens["app1"]), timeout=10) as client:
        for _ in range(count):
            assert client.get(f"{serve.gateway}/shop/1.0.0/status/200").status_code == 200


@pytest.mark.parametrize("workers", [1, 2])
def test_a_clean_stop_stores_every_call_and_the_next_start_recovers_nothing(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path, workers: int
) -> None:
    data, ports = tmp_path / "node", new_ports()
    serve = Serve(runtime, data, ports, workers)
    try:
        serve.wait_serving()
        calls(serve, world, 20)
        # SIGTERM in the middle of traffic: the calls in flight finish and are metered too.
        with Load(serve.gateway, world.tokens["app1"]) as load:
            time.sleep(0.5)
            first = serve.stop()
    finally:
        serve.stop(signal.SIGKILL)
    assert serve.proc.returncode == 0, first
    received = 20 + load.received[200]
    assert sum(load.received.values()) == load.received[200]
    assert stored(runtime, world) == received, first
    assert not [p.name for p in (data / "spool").iterdir()], first  # nothing left for the next start

    again = Serve(runtime, data, ports, workers)
    try:
        again.wait_serving()
        calls(again, world, 5)
    finally:
        second = again.stop()
    assert again.proc.returncode == 0, second
    assert ABRUPT not in first + second
    assert stored(runtime, world) == received + 5


def test_a_killed_serve_is_recovered_on_the_next_start_and_said_so(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path
) -> None:
    data, ports = tmp_path / "node", new_ports()
    serve = Serve(runtime, data, ports)
    try:
        serve.wait_serving()
        calls(serve, world, 30)
    finally:
        first = serve.stop(signal.SIGKILL)
    assert serve.proc.returncode == -signal.SIGKILL
    assert list((data / "spool").glob("*.spool")), first  # the killed gateway's segment stays

    again = Serve(runtime, data, ports)
    try:
        again.wait_serving()
        wait_until(lambda: ABRUPT in again.output(), 30, step=0.1)
    finally:
        second = again.stop()
    assert again.proc.returncode == 0, second
    assert stored(runtime, world) == 30  # nothing lost, nothing twice


def files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and mtime, and the folders' mtimes."""
    found: dict[str, tuple[bytes, int]] = {}
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        found[str(path.relative_to(folder))] = (b"" if path.is_dir() else path.read_bytes(), stat.st_mtime_ns)
    found["."] = (b"", folder.stat().st_mtime_ns)
    return found


def test_a_second_start_on_a_taken_port_names_it_exits_and_leaves_the_running_one_alone(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path
) -> None:
    data, ports = tmp_path / "node", new_ports()
    first = Serve(runtime, data, ports)
    gateway_ports = {k: v for k, v in ports.items() if k.startswith("gateway")}
    taken = {"port": ports["gateway-port"], "https-port": ports["gateway-https-port"]}
    try:
        first.wait_serving()
        calls(first, world, 10)
        before = files(data)
        assert [name for name in before if name.endswith(".spool")], before  # the live segment
        # (what starts, its data folder, its ports, workers, the port it must name)
        attempts = [
            ("serve", data, ports, 1, ports["port"]),
            ("serve", tmp_path / "other", ports, 1, ports["port"]),
            ("serve", data, {**new_ports(), **gateway_ports}, 1, ports["gateway-port"]),
            ("serve", data, {**new_ports(), **gateway_ports}, 2, ports["gateway-port"]),
            ("gateway", data, taken, 1, ports["gateway-port"]),
            ("gateway", data, taken, 2, ports["gateway-port"]),
        ]
        for command, folder, wanted, workers, busy in attempts:
            what = f"{command} on {wanted} with {workers} workers in {folder.name}"
            second = Serve(runtime, folder, wanted, workers, command)
            try:
                second.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                second.stop(signal.SIGKILL)
                raise AssertionError(f"{what}: still running\n{second.output()}") from None
            out = second.output()
            assert second.proc.returncode != 0, f"{what}\n{out}"
            assert f"port {busy} on 127.0.0.1 is already in use; is another Tollway running?" in out, what
            assert "Traceback" not in out, f"{what}\n{out}"
            assert "TLS certificate" not in out, f"{what}\n{out}"  # ended before preparing anything
            assert files(data) == before, what  # not a byte, not a new segment, not a touch
            assert not (tmp_path / "other").exists(), what
        calls(first, world, 10)  # still serving, still metering
    finally:
        out = first.stop()
    assert first.proc.returncode == 0, out
    assert ABRUPT not in out

    again = Serve(runtime, data, ports)
    try:
        again.wait_serving()
    finally:
        out = again.stop()
    assert again.proc.returncode == 0, out
    assert ABRUPT not in out
    assert stored(runtime, world) == 20


def test_a_stop_asked_for_during_start_up_is_a_clean_one(runtime: Runtime, tmp_path: Path) -> None:
    """SIGTERM while the instance prepares (certificate, schema, tenant): it ends with 0 once
    that is done, before serving; nothing spooled, nothing left for the next start."""
    data = tmp_path / "node"
    serve = Serve(runtime, data, new_ports())
    try:
        wait_until(lambda: "TLS certificate" in serve.output(), 60, step=0.005)
    finally:
        out = serve.stop()
    assert serve.proc.returncode == 0, out
    spool = data / "spool"
    assert not spool.exists() or not list(spool.iterdir()), out
