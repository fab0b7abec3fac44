"""Gateway processes: in the control plane's loop, alone, or as workers sharing one port.

With ``[gateway] workers = N > 1`` the parent spawns N worker processes that each bind the ports
(HTTP, and HTTPS unless ``gateway_https_port = 0``) with ``SO_REUSEPORT`` (the kernel spreads
connections over them) and each have their own snapshot and spool; the plan-limit counters are
one table in shared memory the parent creates and every worker uses
(:mod:`tollway.gateway.shared_limits`), so limits hold across workers exactly. One more process,
the spool writer, stores the events of every worker's spool (:mod:`tollway.metering.writer`):
the database work never shares a worker's GIL, and one writer per node means one batch per
transaction instead of the workers contending for the write lock.

Workers ignore SIGINT and stop gracefully on SIGTERM, which the parent sends when it stops; the
writer is stopped after them and stores what they spooled last. A process that dies is
restarted; the writer stores a dead worker's spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.process import BaseProcess

from sqlalchemy import Engine

from tollway.config import Settings
from tollway.db.session import make_engine
from tollway.gateway.server import (
    SHUTDOWN_GRACE,
    GatewaySockets,
    bind_gateway,
    check_free,
    run_gateway,
    spool_writer,
)
from tollway.gateway.shared_limits import SharedCounterTable
from tollway.logging_setup import configure_logging
from tollway.metering.priority import WriterPriority
from tollway.metering.progress import StoreProgress
from tollway.metering.writer import drain, write_until
from tollway.security.certificates import with_certificate

log = logging.getLogger(__name__)

WORKER_STOP_TIMEOUT = 30.0
WRITER_STOP_TIMEOUT = 30.0  # the writer's own drain gives up after SHUTDOWN_GRACE


async def start_gateway(settings: Settings, engine: Engine, sockets: GatewaySockets | None = None) -> None:
    """Background service of ``tollway serve``: the gateway beside the control plane, on
    ``sockets`` when the caller bound them (one process)."""
    if not settings.gateway.enabled:
        return
    if settings.gateway.workers > 1:
        server = settings.server
        await supervise_workers(settings, server.host, server.gateway_port, server.gateway_https_port)
    else:
        await run_gateway(settings, engine, sockets=sockets)


def check_ports(host: str, port: int, https_port: int) -> None:
    """Fail (ConfigError) when a port the workers would share is taken, by anyone."""
    check_free(host, port, "gateway_port")
    if https_port:
        check_free(host, https_port, "gateway_https_port")


async def run_standalone(settings: Settings) -> None:
    """``tollway gateway``: a gateway node on its own, stopped by SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    host, port = settings.server.host, settings.server.gateway_port
    https_port = settings.server.gateway_https_port
    # The ports first: one that is taken ends this before the data folder is touched.
    sockets: GatewaySockets | None = None
    if settings.gateway.workers > 1:
        check_ports(host, port, https_port)
    else:
        sockets = bind_gateway(host, port, https_port)
    if https_port:
        try:
            settings = await asyncio.to_thread(with_certificate, settings)
        except BaseException:
            if sockets is not None:
                sockets.close()
            raise
    if settings.gateway.workers > 1:
        task = asyncio.create_task(supervise_workers(settings, host, port, https_port))
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return
    engine = make_engine(settings.database_url, pool_size=4)
    try:
        await run_gateway(settings, engine, host=host, sockets=sockets, stop=stop)
    finally:
        engine.dispose()


def _spawn_worker(
    settings_json: str,
    host: str,
    ports: tuple[int, int],
    limits: SharedCounterTable,
    progress: StoreProgress,
    slot: int,
) -> BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=worker_main,
        args=(settings_json, host, ports, os.getpid(), limits, progress, slot),
        daemon=False,
    )
    process.start()
    return process


def _spawn_writer(settings_json: str, progress: StoreProgress) -> BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=writer_main, args=(settings_json, os.getpid(), progress), daemon=False
    )
    process.start()
    return process


class _Restarts:
    """A process that keeps dying at start-up (bad config, database down) is restarted with
    growing pauses rather than in a tight loop."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.quick_deaths = 0

    async def pause(self) -> None:
        self.quick_deaths = self.quick_deaths + 1 if time.monotonic() - self.started < 10 else 0
        if self.quick_deaths > 1:
            await asyncio.sleep(min(30.0, 2.0 ** (self.quick_deaths - 1)))
        self.started = time.monotonic()


async def supervise_workers(settings: Settings, host: str, port: int, https_port: int = 0) -> None:
    """Run ``workers`` gateway processes and their spool writer until cancelled, then stop them
    gracefully (the workers first, so the writer stores what they spooled last). Each worker
    listens on ``port`` (HTTP) and, with a certificate set, ``https_port`` (HTTPS; 0 = none)."""
    if not (settings.server.tls_cert and settings.server.tls_key):
        https_port = 0
    ports = (port, https_port)
    check_ports(host, port, https_port)  # here, clearly, rather than in every worker
    payload = settings.model_dump_json()
    # Kept for the supervisor's lifetime: restarted processes attach to the same tables.
    limits = SharedCounterTable(settings.gateway.limit_slots)
    progress = StoreProgress(settings.gateway.workers)
    writer = _spawn_writer(payload, progress)
    writer_restarts = _Restarts()
    workers = [
        _spawn_worker(payload, host, ports, limits, progress, slot)
        for slot in range(settings.gateway.workers)
    ]
    restarts = [_Restarts() for _ in workers]
    shown = f"ports {port} and {https_port} (HTTPS)" if https_port else f"port {port}"
    log.info("gateway: %d worker processes on %s and a spool writer", len(workers), shown)
    try:
        while True:
            await asyncio.sleep(0.2)
            if not writer.is_alive():
                log.error("gateway spool writer %s exited with %s; restarting", writer.pid, writer.exitcode)
                await writer_restarts.pause()
                writer = _spawn_writer(payload, progress)
            for slot, worker in enumerate(workers):
                if worker.is_alive():
                    continue
                log.error("gateway worker %s exited with %s; restarting", worker.pid, worker.exitcode)
                if await asyncio.to_thread(limits.free_lock_of_dead_worker):
                    log.warning("gateway worker %s died holding the limit counters' lock; freed", worker.pid)
                await restarts[slot].pause()
                workers[slot] = _spawn_worker(payload, host, ports, limits, progress, slot)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: drain, spool, exit
        await asyncio.to_thread(_join, workers, WORKER_STOP_TIMEOUT)
        if writer.is_alive():
            writer.terminate()  # SIGTERM: store every sealed segment, exit
        await asyncio.to_thread(_join, [writer], WRITER_STOP_TIMEOUT)


def _join(processes: list[BaseProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.error("gateway process %s did not stop in time; killing it", process.pid)
            process.kill()
            process.join()


_stop_requested = False


def _early_sigterm(signum: int, frame: object) -> None:
    global _stop_requested  # a SIGTERM during start-up: stop (gracefully) as soon as serving
    _stop_requested = True


def _child_start(settings_json: str) -> Settings:
    """What every spawned process does first: leave SIGINT to the parent, which decides when its
    children stop; log like it; read its settings."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging()
    return Settings.model_validate_json(settings_json)


def worker_main(
    settings_json: str,
    host: str,
    ports: tuple[int, int],
    parent_pid: int,
    limits: SharedCounterTable,
    progress: StoreProgress,
    slot: int,
) -> None:
    """Entry point of a spawned worker process."""
    signal.signal(signal.SIGTERM, _early_sigterm)
    settings = _child_start(settings_json)
    try:
        import uvloop

        uvloop.run(_worker(settings, host, ports, parent_pid, limits, progress, slot))
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        asyncio.run(_worker(settings, host, ports, parent_pid, limits, progress, slot))


async def _worker(
    settings: Settings,
    host: str,
    ports: tuple[int, int],
    parent_pid: int,
    limits: SharedCounterTable,
    progress: StoreProgress,
    slot: int,
) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if _stop_requested:
        stop.set()

    async def watch_parent() -> None:  # an orphaned worker (parent killed) stops by itself
        while not stop.is_set():
            if os.getppid() != parent_pid:
                stop.set()
            await asyncio.sleep(1.0)

    watcher = asyncio.create_task(watch_parent())
    engine = make_engine(settings.database_url, pool_size=4)
    try:
        await run_gateway(
            settings,
            engine,
            host=host,
            port=ports[0],
            https_port=ports[1],
            reuse_port=True,
            stop=stop,
            shared_limits=limits,
            progress=progress,
            slot=slot,
        )
    finally:
        watcher.cancel()
        engine.dispose()


def writer_main(settings_json: str, parent_pid: int, progress: StoreProgress) -> None:
    """Entry point of the spool writer process: store until SIGTERM (or orphaned), then drain."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    settings = _child_start(settings_json)
    engine = make_engine(settings.database_url, pool_size=2)
    metering = settings.metering
    priority = WriterPriority(metering.writer_max_lag, enabled=metering.writer_priority == "idle")
    writer = spool_writer(settings, engine, progress, priority)
    try:
        # An orphaned writer (supervisor killed) stops too; its workers stop by themselves.
        write_until(writer, metering.flush_interval, stop, lambda: os.getppid() == parent_pid)
        if drain(writer, SHUTDOWN_GRACE):
            log.info("spool writer stopped; usage events all stored")
    finally:
        writer.close()
        writer.sink.close()
        engine.dispose()
