"""One ``stripe.StripeClient`` per tenant, never the SDK's module-global API key.

Tenants bill through their own Stripe platform accounts, so each gets a client built with its own
key (``MonetizationInfo.BillingEnginePlatformAccountKey``). Clients are cached by tenant id and a
digest of the key: a rotated key gets a fresh client, and the key itself is never a dictionary
key, logged or shown. Connected accounts are not separate clients: every call for one sends its
id as ``Stripe-Account`` (see :class:`Target`).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import stripe

from tollway.billing.contract import EngineRejected, TenantContext
from tollway.config import StripeSettings

PLATFORM_KEY = "BillingEnginePlatformAccountKey"
WEBHOOK_SECRET = "StripeWebhookSecret"  # noqa: S105 - the name of a MonetizationInfo key
CONNECTED_ACCOUNT = "ConnectedAccountKey"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes: a tenant's client, and the connected account (None = the platform)."""

    client: stripe.StripeClient
    account: str | None

    def options(self, idempotency_key: str | None = None) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.account:
            options["stripe_account"] = self.account
        if idempotency_key:
            options["idempotency_key"] = idempotency_key
        return options


def platform_key(tenant: TenantContext) -> str:
    key = (tenant.monetization_info.get(PLATFORM_KEY) or "").strip()
    if not key:
        raise EngineRejected(
            f"MonetizationInfo.{PLATFORM_KEY}",
            f"tenant {tenant.domain} has no Stripe secret key; the tenant admin sets it with "
            "PUT /api/am/admin/v1/tenant-config",
        )
    return key


def meter_events_base(settings: StripeSettings) -> str:
    """Where the v2 meter event stream goes: Stripe serves it from its own host, not from the API's.

    Without ``meter_events_base`` it is Stripe's host when ``api_base`` is Stripe's, else
    ``api_base`` (a fake or a proxy serves both).
    """
    if settings.meter_events_base:
        return settings.meter_events_base.rstrip("/")
    api_base = settings.api_base.rstrip("/")
    return stripe.DEFAULT_METER_EVENTS_API_BASE if api_base == stripe.DEFAULT_API_BASE else api_base


class StripeClients:
    """Thread-safe cache of per-tenant clients sharing one HTTP connection pool per thread."""

    def __init__(self, settings: StripeSettings) -> None:
        self.base_addresses: dict[str, str] = {
            "api": settings.api_base.rstrip("/"),
            "meter_events": meter_events_base(settings),
        }
        # One attempt never outlasts the retry budget by much (the SDK's default is 80 s).
        self.http = stripe.RequestsClient(timeout=min(30.0, max(2.0, settings.max_retry_seconds)))
        self._clients: dict[str, tuple[str, stripe.StripeClient]] = {}
        self._lock = threading.Lock()

    def _new(self, api_key: str) -> stripe.StripeClient:
        return stripe.StripeClient(
            api_key,
            base_addresses=self.base_addresses,  # type: ignore[arg-type]
            max_network_retries=0,  # retries are ours: bounded in time (retry.py)
            http_client=self.http,
        )

    def for_tenant(self, tenant: TenantContext) -> stripe.StripeClient:
        key = platform_key(tenant)
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            cached = self._clients.get(tenant.id)
            if cached is not None and cached[0] == digest:
                return cached[1]
            client = self._new(key)
            self._clients[tenant.id] = (digest, client)
            return client

    def target(self, tenant: TenantContext, account: str | None) -> Target:
        return Target(self.for_tenant(tenant), account or None)

    def session_client(self, token: str) -> stripe.StripeClient:
        """A client authenticated by a meter-event session token (the v2 high-throughput stream)."""
        return self._new(token)

    def close(self) -> None:
        with self._lock:
            self._clients.clear()
        self.http.close()  # type: ignore[no-untyped-call]
