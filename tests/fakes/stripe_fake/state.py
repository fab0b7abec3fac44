"""In-memory state of the fake: one ``AccountState`` per Stripe account, kept strictly apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Obj = dict[str, Any]


@dataclass
class MeterEventRecord:
    identifier: str
    event_name: str
    meter: str
    customer: str
    value: Decimal
    timestamp: int
    created: int
    sequence: int
    payload: dict[str, str]
    canceled: bool = False


@dataclass
class IdempotencyRecord:
    method: str
    path: str
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    created: int


@dataclass
class AccountState:
    """Everything one Stripe account owns; nothing here is visible from another account."""

    id: str
    platform: str | None  # the platform a connected account belongs to; None for a platform
    object: Obj
    livemode: bool = False
    products: dict[str, Obj] = field(default_factory=dict)
    prices: dict[str, Obj] = field(default_factory=dict)
    meters: dict[str, Obj] = field(default_factory=dict)
    customers: dict[str, Obj] = field(default_factory=dict)
    deleted_customers: set[str] = field(default_factory=set)
    subscriptions: dict[str, Obj] = field(default_factory=dict)  # internal records, rendered on read
    invoices: dict[str, Obj] = field(default_factory=dict)
    checkout_sessions: dict[str, Obj] = field(default_factory=dict)
    invoice_sources: dict[str, Obj] = field(default_factory=dict)  # how to rebuild a draft's lines
    meter_events: list[MeterEventRecord] = field(default_factory=list)
    identifiers: dict[str, MeterEventRecord] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    # meter events refused by asynchronous validation (the v2 stream): Stripe reports those in
    # ``v1.billing.meter.error_report_triggered`` events, the fake keeps them here.
    meter_event_errors: list[Obj] = field(default_factory=list)
    sequence: int = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


@dataclass
class MeterEventSession:
    id: str
    token: str
    account: str
    created: int
    expires_at: int


@dataclass
class Ctx:
    """What a handler sees of one request."""

    account: AccountState
    now: int
    api_key: str
    path: str
    sessions: dict[str, MeterEventSession] = field(default_factory=dict)
    expand: list[str] = field(default_factory=list)


# id prefix -> renderer, filled in by the resource modules; used to expand ids into objects.
Resolver = Callable[[Ctx, str], Obj | None]
RESOLVERS: dict[str, Resolver] = {}


def resolve(ctx: Ctx, object_id: str) -> Obj | None:
    prefix = object_id.rsplit("_", 1)[0] if "_" in object_id else ""
    resolver = RESOLVERS.get(prefix)
    return resolver(ctx, object_id) if resolver is not None else None
