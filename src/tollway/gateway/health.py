"""``GET /_tollway/health`` on every gateway port: is this node serving, and how far behind is its
metering? For load balancers (503 takes the node out) and for operators watching back-pressure.

It reads shared memory only (no database, no NATS, no Redis round trip), so it answers the same
whether the worker that takes the probe is busy or not, and costs the proxy nothing: it is
matched only on paths no published API routes (contexts cannot begin with ``_tollway``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tollway.gateway.redis_limits import RedisLimiter
from tollway.gateway.responses import Answer

if TYPE_CHECKING:
    from tollway.gateway.core import Gateway

HEALTH_PATH = b"/_tollway/health"


def health_answer(gw: Gateway) -> Answer:
    """200 with ``status: UP``, or 503 with ``DOWN`` while the node refuses calls it could serve:
    metering backed up to ``buffer_limit`` (or the spool unwritable), or shared limits away
    under ``fail_closed``."""
    recorder = gw.recorder
    backlog = recorder.progress.backlog()
    metering_full = recorder.full or backlog.largest >= recorder.buffer_limit
    limiter = gw.limiter
    if isinstance(limiter, RedisLimiter):
        store, shared = "redis", limiter.shared
        limits_refused = not shared and not limiter.fail_open
    else:
        store, shared, limits_refused = "local", True, False
    down = metering_full or limits_refused
    document = {
        "status": "DOWN" if down else "UP",
        "metering": {
            "sink": gw.sink_name,
            # Spooled by this node's gateway processes and not yet stored (or, with the NATS
            # sink, not yet acknowledged by JetStream); the oldest of them is at most this old.
            "backlogEvents": backlog.events,
            "backlogSeconds": backlog.seconds,
            "bufferLimit": recorder.buffer_limit,
            "refusingCalls": metering_full,
        },
        "limits": {"store": store, "shared": shared, "refusingCalls": limits_refused},
    }
    return Answer.json(503 if down else 200, document)
