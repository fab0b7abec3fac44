"""Backend timeouts without a timer per request.

A libuv timer per request (``loop.call_at`` and ``cancel``) costs several microseconds, a fifth
of what proxying a small request costs. Deadlines are instead rounded up to the next
``RESOLUTION`` tick and kept in one set per tick, with one loop timer per tick that has
members: an exchange that ends leaves its set (a set operation), and an expired one is handed to
its connection's ``_timed_out``. A timeout therefore fires between 0 and 10 ms late.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tollway.gateway.proxy import Exchange

RESOLUTION = 0.01  # seconds


class Deadlines:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ticks: dict[int, set[Exchange]] = {}

    def add(self, exchange: Exchange, when: float) -> None:
        tick = math.ceil(when / RESOLUTION)
        members = self.ticks.get(tick)
        if members is None:
            members = self.ticks[tick] = set()
            self.loop.call_at(tick * RESOLUTION, self._expire, tick)
        members.add(exchange)
        exchange.deadline = members

    @staticmethod
    def discard(exchange: Exchange) -> None:
        members = exchange.deadline
        if members is not None:
            members.discard(exchange)
            exchange.deadline = None

    def _expire(self, tick: int) -> None:
        members = self.ticks.pop(tick, None)
        for exchange in list(members or ()):
            if exchange.deadline is members:  # not ended by an earlier one's time-out
                exchange.deadline = None
                exchange.owner.timed_out(exchange)
