"""A real ``nats-server -js`` for the tests: its own port and store folder, stopped by its PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.servers import free_port

NATS_SERVER = "/usr/sbin/nats-server"


class NatsServer:
    """JetStream on a free loopback port, storing in ``folder``.

    ``kill()`` stops it abruptly (SIGKILL); ``start()`` brings it back on the same port with the
    same store, as a restarted server would come back.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsServer:
        log = self.folder / "nats.log"
        log.unlink(missing_ok=True)  # "Server is ready" of an earlier start does not count
        self.process = subprocess.Popen(
            [
                NATS_SERVER,
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.folder / "store"),
                "-l",
                str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not (log.exists() and "Server is ready" in log.read_text()):
            assert self.process.poll() is None, log.read_text() if log.exists() else "nats-server exited"
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None
