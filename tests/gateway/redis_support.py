"""A real ``redis-server`` for the tests: its own port and data folder, stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.support.servers import free_port

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    """``redis-server`` on a free loopback port, persisting nothing (``--save ""``, no AOF).

    ``kill()`` stops it abruptly (SIGKILL); ``start()`` brings it back on the same port, empty.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--logfile",
                str(self.folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            assert self.process.poll() is None, (self.folder / "redis.log").read_text()
            try:
                with self.client() as client:
                    client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, decode_responses=True)

    def limit_keys(self) -> dict[str, dict[str, str]]:
        """Every window key of the shared limit counters, with its fields."""
        with self.client() as client:
            return {key: client.hgetall(key) for key in client.scan_iter("tollway:limits:*")}
