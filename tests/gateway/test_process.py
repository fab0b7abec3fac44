"""Gateway processes: alone and with workers; stops that flush, crashes that lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.gateway.support import Backend, World, add_app, add_policy, bearer, subscribe, wait_until
from tests.support.processes import LoggedProcess
from tests.support.servers import free_port
from tollway.models.usage import UsageEventRow, UsageRollup
from tollway.runtime import Runtime

TOLLWAY = [sys.executable, "-m", "tollway"]


def start_gateway(
    runtime: Runtime, tmp_path: Path, port: int, workers: int, extra: str = ""
) -> subprocess.Popen[bytes]:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[database]\nurl = "{runtime.settings.database_url}"\n{extra}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    return LoggedProcess(
        [
            *TOLLWAY,
            "gateway",
            "--port",
            str(port),
            "--https-port",
            str(free_port()),
            "--workers",
            str(workers),
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "node"),
        ],
        tmp_path / f"gateway-{time.monotonic_ns()}.log",
        env,
    )


def listening_sockets(port: int) -> int:
    """Sockets in LISTEN state on ``port``: one per worker process sharing it (SO_REUSEPORT)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def wait_serving(port: int, proc: subprocess.Popen[bytes], workers: int = 1) -> None:
    """Until the gateway answers and each of its ``workers`` has its own listening socket
    (a loaded machine starts the second worker later; the kernel only spreads connections
    over sockets that exist)."""

    def answering() -> bool:
        assert proc.poll() is None, proc.communicate()[0].decode()
        if listening_sockets(port) < workers:
            return False
        try:
            return httpx.get(f"http://127.0.0.1:{port}/nothing/1/x", timeout=1).status_code == 404
        except httpx.HTTPError:
            return False

    wait_until(answering, 30, step=0.05)


def stored(runtime: Runtime, billable_only: bool = False) -> int:
    with runtime.session_factory() as session:
        query = select(func.count()).select_from(UsageEventRow)
        if billable_only:
            query = query.where(UsageEventRow.billable.is_(True))
        return int(session.scalar(query) or 0)


def children_of(parent: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "spawn_main"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def spooling(spool: Path) -> set[int]:
    """The processes with a spool segment: the workers (each opens one as it starts)."""
    return {int(path.name.split("-")[0]) for path in spool.glob("*.spool")}


def rolled_up(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.sum(UsageRollup.total_count))) or 0)


def workers_of(parent: int, spool: Path) -> list[int]:
    return [pid for pid in children_of(parent) if pid in spooling(spool)]


def writer_of(parent: int, spool: Path) -> int:
    """The spool writer: the supervisor's one child that does not spool."""
    (writer,) = [pid for pid in children_of(parent) if pid not in spooling(spool)]
    return writer


class Load:
    """Threads calling the gateway until stopped; counts the answers clients fully received."""

    def __init__(self, url: str, token: str, threads: int = 4) -> None:
        self.url, self.token = url, token
        self.received: Counter[int] = Counter()
        self.failed = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(headers=bearer(self.token), timeout=5) as client:
            while not self._stop.is_set():
                try:
                    status = client.get(f"{self.url}/shop/1.0.0/status/200").status_code
                except httpx.HTTPError:
                    with self._lock:
                        self.failed += 1
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


def test_gateway_alone_with_workers_serves_and_a_graceful_stop_stores_every_event(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path
) -> None:
    port = free_port()
    proc = start_gateway(runtime, tmp_path, port, workers=2)
    spool = tmp_path / "node" / "spool"
    try:
        wait_serving(port, proc, workers=2)
        assert len(children_of(proc.pid)) == 3  # two workers and the spool writer
        # A worker listens a moment before it opens its spool segment.
        wait_until(lambda: len(workers_of(proc.pid, spool)) == 2, 20, step=0.05)
        with Load(f"http://127.0.0.1:{port}", world.tokens["app1"]) as load:
            time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    answered = sum(load.received.values())
    assert answered > 100 and load.received[200] == answered
    # Stopped without waiting for a flush interval: the stop itself stored every event (and the
    # 404 of the readiness probe).
    assert stored(runtime, billable_only=True) == answered
    assert stored(runtime) == answered + 1
    assert not list(spool.iterdir())  # every segment sealed, stored and deleted


def test_a_killed_worker_loses_no_event_of_an_answer_a_client_received(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path
) -> None:
    """kill -9 in the middle of traffic: the spool keeps every event; the spool writer stores them."""
    port = free_port()
    # The writer stores every 8 s (once at start): the killed worker surely dies with events unstored.
    extra = "[metering]\nflush_interval = 8\nbatch_size = 1000000\n"
    proc = start_gateway(runtime, tmp_path, port, workers=2, extra=extra)
    try:
        wait_serving(port, proc, workers=2)
        spool = tmp_path / "node" / "spool"
        with Load(f"http://127.0.0.1:{port}", world.tokens["app1"], threads=6) as load:
            time.sleep(1.0)
            # The kernel spreads connections over the workers: kill one that has been serving.
            orphan = max(spool.glob("*.spool"), key=lambda path: path.stat().st_size)
            victim = int(orphan.name.split("-")[0])
            assert orphan.stat().st_size > 0 and victim in workers_of(proc.pid, spool)
            os.kill(victim, signal.SIGKILL)
            # The writer stores the dead one's spool and deletes it; the supervisor starts a new worker.
            wait_until(lambda: not orphan.exists(), 20)
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert f"gateway worker {victim} exited with -9; restarting" in out.decode()
    assert "usage events left by a gateway that stopped abruptly" in out.decode()  # the replay
    received = load.received[200]
    sent = backend.sent[200]
    metered = stored(runtime, billable_only=True)
    assert received > 100
    # Every 200 a client received is metered; at most the calls in flight in the killed worker
    # (the backend answered, the gateway died before reading it) are sent but not metered.
    assert received <= metered <= sent
    assert sent - metered <= 6


def test_a_killed_spool_writer_is_restarted_and_counts_nothing_twice(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path
) -> None:
    port = free_port()
    proc = start_gateway(runtime, tmp_path, port, workers=2)
    spool = tmp_path / "node" / "spool"
    try:
        wait_serving(port, proc, workers=2)
        with Load(f"http://127.0.0.1:{port}", world.tokens["app1"]) as load:
            time.sleep(0.7)
            writer = writer_of(proc.pid, spool)
            os.kill(writer, signal.SIGKILL)
            wait_until(lambda: len(children_of(proc.pid)) == 3 and writer not in children_of(proc.pid), 20)
            time.sleep(0.7)
        # The new writer read the live segments from their start again: each event counted once.
        answered = load.received[200]
        wait_until(lambda: stored(runtime, billable_only=True) == answered, 20, step=0.1)
        assert rolled_up(runtime) == answered
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert f"gateway spool writer {writer} exited with -9; restarting" in out.decode()
    assert answered > 100 and sum(load.received.values()) == answered
    assert stored(runtime, billable_only=True) == rolled_up(runtime) == answered
    assert not list(spool.iterdir())


def test_a_quota_holds_exactly_across_worker_processes(
    runtime: Runtime, backend: Backend, world: World, tmp_path: Path
) -> None:
    """Many connections, which the kernel spreads over both workers: N calls pass, not N per worker."""
    quota, callers, calls_each = 300, 16, 40
    add_policy(runtime, world, "Daily300", request_count=quota, time_unit="day", unit_time=1)
    add_app(runtime, world, "capped")
    sub_id = subscribe(runtime, world, "capped", "shop", "Daily300")
    left = 86400 - time.time() % 86400
    if left < 120:  # the daily window turns at midnight UTC: start in the next one
        time.sleep(left + 1)
    port = free_port()
    proc = start_gateway(runtime, tmp_path, port, workers=2)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def call() -> None:
        with httpx.Client(headers=bearer(world.tokens["capped"]), timeout=10) as client:
            for _ in range(calls_each):
                status = client.get(f"http://127.0.0.1:{port}/shop/1.0.0/status/200").status_code
                with lock:
                    statuses[status] += 1

    try:
        wait_serving(port, proc, workers=2)
        threads = [threading.Thread(target=call) for _ in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert statuses == {200: quota, 429: callers * calls_each - quota}
    assert backend.sent[200] == quota
    with runtime.session_factory() as session:
        ids = session.scalars(select(UsageEventRow.id).where(UsageEventRow.subscription_id == sub_id)).all()
    assert len(ids) == callers * calls_each
    # Event ids start with a prefix of the process that served the call: both workers served.
    assert len({event_id.split("-")[0] for event_id in ids}) == 2


def test_serve_runs_the_gateway_beside_the_control_plane(tmp_path: Path) -> None:
    port, gateway_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    proc = subprocess.Popen(
        [
            *TOLLWAY,
            "serve",
            "--http-port",
            str(port),
            "--port",
            str(free_port()),
            "--gateway-port",
            str(gateway_port),
            "--gateway-https-port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_serving(gateway_port, proc)
        answer = httpx.get(f"http://127.0.0.1:{gateway_port}/pizzashack/1.0.0/menu")
        assert answer.status_code == 404
        assert answer.json()["code"] == 404
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    # One process with one worker; on more cores (workers = "auto") the spool writer's process.
    assert "stopped; usage events all stored" in out.decode()
