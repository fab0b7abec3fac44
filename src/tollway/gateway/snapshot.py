"""What the gateway enforces, as plain objects: built off the event loop, read per request.

A snapshot is immutable once published; a reload builds a new one and swaps the reference, so a
request sees one consistent version from start to end. Everything is keyed for dictionary
look-ups: route prefix -> API, credential digest -> application -> subscription (by API id) ->
plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tollway.pricing.windows import Window

INFINITY = math.inf
# Subscription states that let production traffic through.
ACTIVE = "UNBLOCKED"


@dataclass(slots=True)
class Backend:
    host: str
    port: int
    tls: bool
    # Path of the endpoint URL without its trailing slash ("" for the root) and as given.
    base_path: bytes
    raw_path: bytes
    host_header: bytes

    @property
    def key(self) -> tuple[str, int, bool]:
        return (self.host, self.port, self.tls)


@dataclass(slots=True)
class ApiRoute:
    id: str
    tenant_id: str
    name: str
    # "/t/{tenant}" (none for the default tenant) + context + "/" + version, as bytes.
    prefix: bytes
    production: Backend | None
    sandbox: Backend | None
    timeout: float


@dataclass(slots=True)
class Plan:
    id: str
    name: str
    # Quota per window: requests (RequestCountLimit) or bytes (BandwidthLimit); 0 = none.
    quota: int
    quota_bytes: int
    quota_window: Window
    stop_on_quota: bool
    # Burst ("rateLimitCount" per "rateLimitTimeUnit"); 0 = none.
    burst: int
    burst_seconds: float
    billing_plan: str


class Tariff:
    """A prepaid plan's exact price of a period's first ``calls`` calls, in pico-units (10**-12).

    Integers, so the hot path never touches Decimal; the same rules as
    :func:`tollway.pricing.prices.usage_cost` (tests compare the two).
    """

    __slots__ = ("included", "per_request", "tiers", "volume")

    def __init__(
        self,
        included: int = 0,
        per_request: int | None = 0,
        tiers: tuple[tuple[int | None, int, int], ...] = (),
        volume: bool = False,
    ) -> None:
        self.included = included
        self.per_request = per_request  # None: priced by ``tiers`` (up_to, unit, flat)
        self.tiers = tiers
        self.volume = volume

    def cost(self, calls: int) -> int:
        billable = calls - self.included
        if billable <= 0:
            return 0
        if self.per_request is not None:
            return billable * self.per_request
        if self.volume:
            for upper, unit, flat in self.tiers:
                if upper is None or calls <= upper:
                    return billable * unit + flat
        total = lower = 0
        for upper, unit, flat in self.tiers:
            first = max(lower, self.included) + 1
            last = calls if upper is None else min(upper, calls)
            if last >= first:
                total += (last - first + 1) * unit + flat
            if upper is None or upper >= calls:
                break
            lower = upper
        return total


@dataclass(slots=True)
class WalletState:
    """A subscriber's prepaid wallet as of the snapshot."""

    id: str
    currency: str
    balance: int  # pico-units: the last entry's running balance
    subscriptions: list[SubscriptionEntry] = field(default_factory=list)


@dataclass(slots=True)
class Prepaid:
    """What a prepaid subscription's calls cost and what its wallet has already paid for.

    Periods are known by their end (epoch seconds). ``ends`` holds the boundaries from the start
    of the period the snapshot was loaded in onwards, so a worker rolls over to the next period
    without a reload. ``settled``: per period, the billable calls whose cost the wallet's balance
    already includes; ``stored``: per period, the billable calls stored when it was loaded.
    """

    wallet: WalletState
    tariff: Tariff
    fee: int  # pico-units taken at each period start (FixedRate); 0 for per-call plans
    ends: tuple[float, ...]
    settled: dict[float, int]
    stored: dict[float, int]
    paid_until: float  # the fee is taken for every period that ends at or before this
    # A postpaid subscription's HARD spend cap: ``wallet.balance`` is the cap, per period; the
    # previous period's calls do not count against it.
    cap: bool = False


@dataclass(slots=True)
class SubscriptionEntry:
    id: str
    status: str
    api_id: str
    application_id: str
    tenant_id: str
    plan: Plan
    prepaid: Prepaid | None = None


@dataclass(slots=True)
class ApplicationEntry:
    id: str
    tenant_id: str
    # API id -> subscription.
    subscriptions: dict[str, SubscriptionEntry] = field(default_factory=dict)


@dataclass(slots=True)
class Credential:
    """An access token or API key, known by the SHA-256 hex digest of its value."""

    application_id: str
    expires_at: float  # epoch seconds; INFINITY when it never expires
    sandbox: bool


@dataclass(slots=True)
class Snapshot:
    version: int
    routes: dict[bytes, ApiRoute] = field(default_factory=dict)
    # Most path segments any route prefix has: the router tries no longer prefixes.
    max_segments: int = 2
    tenants: dict[str, str] = field(default_factory=dict)  # domain -> id
    default_tenant_id: str = ""
    applications: dict[str, ApplicationEntry] = field(default_factory=dict)
    api_keys: dict[str, Credential] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)

    def route(self, path: bytes) -> ApiRoute | None:
        """The API whose prefix is the longest whole-segment prefix of ``path``."""
        routes = self.routes
        # Offsets of the "/" that end each segment, then the end of the path.
        ends: list[int] = []
        at = path.find(b"/", 1)
        while at != -1 and len(ends) < self.max_segments:
            ends.append(at)
            at = path.find(b"/", at + 1)
        if len(ends) < self.max_segments:
            ends.append(len(path))
        for end in reversed(ends):
            found = routes.get(path[:end])
            if found is not None:
                return found
        return None

    def tenant_of_path(self, path: bytes) -> str:
        """The tenant id a path names (for events of requests that match no API)."""
        if path.startswith(b"/t/"):
            end = path.find(b"/", 3)
            domain = path[3 : end if end != -1 else len(path)].decode("utf-8", "replace")
            return self.tenants.get(domain, "")
        return self.default_tenant_id
