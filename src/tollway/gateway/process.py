"""Gateway processes: in the control plane's loop, alone, or as workers sharing one port.

With ``[gateway] workers = N > 1`` the parent spawns N worker processes that each bind the port
with ``SO_REUSEPORT`` (the kernel spreads connections over them) and each have their own
snapshot, metering buffer and spool; the plan-limit counters are one table in shared memory the
parent creates and every worker uses (:mod:`tollway.gateway.shared_limits`), so limits hold
across workers exactly. Workers ignore SIGINT and stop gracefully on SIGTERM, which the parent
sends when it stops; a worker that dies is restarted and the new one replays the dead one's spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.process import BaseProcess

from tollway.config import Settings
from tollway.db.session import make_engine
from tollway.gateway.server import bind_socket, run_gateway
from tollway.gateway.shared_limits import SharedCounterTable
from tollway.runtime import Runtime

log = logging.getLogger(__name__)

WORKER_STOP_TIMEOUT = 30.0


async def start_gateway(runtime: Runtime) -> None:
    """Background service of ``tollway serve``: the gateway beside the control plane."""
    settings = runtime.settings
    if not settings.gateway.enabled:
        return
    if settings.gateway.workers > 1:
        await supervise_workers(settings, settings.server.host, settings.server.gateway_port)
    else:
        await run_gateway(settings, runtime.engine)


async def run_standalone(settings: Settings) -> None:
    """``tollway gateway``: a gateway node on its own, stopped by SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    host, port = settings.server.host, settings.server.gateway_port
    if settings.gateway.workers > 1:
        task = asyncio.create_task(supervise_workers(settings, host, port))
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return
    engine = make_engine(settings.database_url, pool_size=4)
    try:
        await run_gateway(settings, engine, host=host, port=port, stop=stop)
    finally:
        engine.dispose()


def _spawn(settings_json: str, host: str, port: int, limits: SharedCounterTable) -> BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=worker_main, args=(settings_json, host, port, os.getpid(), limits), daemon=False
    )
    process.start()
    return process


async def supervise_workers(settings: Settings, host: str, port: int) -> None:
    """Run ``workers`` gateway processes until cancelled, then stop them gracefully."""
    bind_socket(host, port, reuse_port=True).close()  # fail here, clearly, if the port is taken
    payload = settings.model_dump_json()
    # Kept for the supervisor's lifetime: restarted workers attach to the same counters.
    limits = SharedCounterTable(settings.gateway.limit_slots)
    workers = [_spawn(payload, host, port, limits) for _ in range(settings.gateway.workers)]
    started = [time.monotonic()] * len(workers)
    quick_deaths = [0] * len(workers)
    log.info("gateway: %d worker processes on port %d", len(workers), port)
    try:
        while True:
            await asyncio.sleep(0.2)
            for index, worker in enumerate(workers):
                if worker.is_alive():
                    continue
                log.error("gateway worker %s exited with %s; restarting", worker.pid, worker.exitcode)
                if await asyncio.to_thread(limits.free_lock_of_dead_worker):
                    log.warning("gateway worker %s died holding the limit counters' lock; freed", worker.pid)
                # A worker that keeps dying at start-up (bad config, database down) is restarted
                # with growing pauses rather than in a tight loop.
                quick_deaths[index] = quick_deaths[index] + 1 if time.monotonic() - started[index] < 10 else 0
                if quick_deaths[index] > 1:
                    await asyncio.sleep(min(30.0, 2.0 ** (quick_deaths[index] - 1)))
                workers[index] = _spawn(payload, host, port, limits)
                started[index] = time.monotonic()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: drain, flush, exit
        await asyncio.to_thread(_join, workers)


def _join(workers: list[BaseProcess]) -> None:
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            log.error("gateway worker %s did not stop in time; killing it", worker.pid)
            worker.kill()
            worker.join()


_stop_requested = False


def _early_sigterm(signum: int, frame: object) -> None:
    global _stop_requested  # a SIGTERM during start-up: stop (gracefully) as soon as serving
    _stop_requested = True


def worker_main(
    settings_json: str, host: str, port: int, parent_pid: int, limits: SharedCounterTable
) -> None:
    """Entry point of a spawned worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    signal.signal(signal.SIGTERM, _early_sigterm)
    from tollway.logging_setup import configure_logging

    configure_logging()
    settings = Settings.model_validate_json(settings_json)
    try:
        import uvloop

        uvloop.run(_worker(settings, host, port, parent_pid, limits))
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        asyncio.run(_worker(settings, host, port, parent_pid, limits))


async def _worker(
    settings: Settings, host: str, port: int, parent_pid: int, limits: SharedCounterTable
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
            settings, engine, host=host, port=port, reuse_port=True, stop=stop, shared_limits=limits
        )
    finally:
        watcher.cancel()
        engine.dispose()
