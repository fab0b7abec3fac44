"""The usage event every gateway request produces, and the sink protocol that stores them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class UsageEvent:
    """One request seen by the gateway.

    ``time`` is epoch seconds (UTC) when the answer completed; ``id`` is unique across
    processes and nodes (a random per-process prefix plus a counter), so a replayed event is
    recognised and stored once. ``billable`` is decided by the gateway from the backend's
    status (gateway refusals and backend errors are recorded, never billed).
    """

    id: str
    time: float
    tenant_id: str
    api_id: str | None
    application_id: str | None
    subscription_id: str | None
    tier: str | None
    status: int
    billable: bool
    latency_us: int
    request_bytes: int
    response_bytes: int


class UsageSink(Protocol):
    """Where batches of events go. Blocking; the recorder calls it from a worker thread.

    ``write`` must be idempotent by event id (a batch may be written again after a failure or
    a crash) and atomic (all of the batch or none of it). It returns how many events were new.
    """

    def write(self, events: Sequence[UsageEvent]) -> int: ...

    def close(self) -> None: ...
