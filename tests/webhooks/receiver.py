"""A webhook receiver on loopback: records every request and answers what the test scripts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.servers import ServerThread
from tollway.webhooks import signing


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic()
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document

    def verifies(self, secret: str) -> bool:
        return signing.verify(secret, self.headers.get(signing.HEADER.lower(), ""), self.body)


@dataclass
class Receiver:
    """``failures``: how many requests (the first ones) get a 500 before the others get 200."""

    failures: int = 0
    url: str = ""
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            status = 500 if len(self.received) < self.failures else 200
            self.received.append(Received(time.monotonic(), dict(request.headers), body, status))
        return Response("oops" if status == 500 else "ok", status_code=status)

    def delivered(self) -> list[Received]:
        """The requests answered 200."""
        with self.lock:
            return [r for r in self.received if r.answered == 200]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@contextmanager
def receiver(failures: int = 0) -> Iterator[Receiver]:
    found = Receiver(failures=failures)
    with ServerThread(Starlette(routes=[Route("/hook", found._hook, methods=["POST"])])) as server:
        found.url = f"{server.url}/hook"
        yield found
