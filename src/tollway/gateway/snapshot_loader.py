"""Reads the database into a :class:`Snapshot`. Blocking: the gateway runs it in a worker thread.

Column selects (no ORM entities): a reload of a few thousand APIs and subscriptions takes
milliseconds. Access tokens are not part of the full snapshot (there are many and the token
endpoint creates them without bumping the change counter); they are looked up by digest on a
miss and re-validated by digest when the counter moves, see :func:`load_credentials`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, and_, or_, select

from tollway.gateway.limits import BYTE_UNITS
from tollway.gateway.prepaid_loader import load_prepaid
from tollway.gateway.snapshot import (
    INFINITY,
    ApiRoute,
    ApplicationEntry,
    Backend,
    Credential,
    Plan,
    Snapshot,
    SubscriptionEntry,
)
from tollway.models import (
    DEFAULT_TENANT,
    Api,
    ApiKey,
    Application,
    OAuthClient,
    OAuthToken,
    Subscription,
    SubscriptionPolicy,
    Tenant,
)
from tollway.models.config_version import ConfigVersion
from tollway.pricing.windows import quota_window, window_of

log = logging.getLogger(__name__)

SERVED_STATES = ("PUBLISHED", "DEPRECATED")
DIGESTS_PER_QUERY = 500


def current_version(engine: Engine) -> int:
    with engine.connect() as conn:
        value = conn.scalar(select(ConfigVersion.version).where(ConfigVersion.name == "gateway"))
    return int(value or 0)


def parse_backend(config: Any, which: str) -> Backend | None:
    """The backend of ``endpoint_config[which]`` ({"url": …} or a list of them: the first)."""
    if not isinstance(config, dict):
        return None
    endpoint = config.get(which)
    if isinstance(endpoint, list):
        endpoint = endpoint[0] if endpoint else None
    url = endpoint.get("url") if isinstance(endpoint, dict) else None
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    tls = parts.scheme == "https"
    default_port = 443 if tls else 80
    port = port or default_port
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    raw_path = parts.path or "/"
    return Backend(
        host=host,
        port=port,
        tls=tls,
        base_path=raw_path.rstrip("/").encode(),
        raw_path=raw_path.encode(),
        host_header=host_header.encode(),
    )


def build_plan(row: Any) -> Plan:
    quota = quota_bytes = 0
    if row.limit_type == "BandwidthLimit":
        unit = BYTE_UNITS.get((row.data_unit or "B").upper(), 1)
        quota_bytes = max(0, int(row.data_amount or 0)) * unit
    else:
        quota = max(0, int(row.request_count or 0))
    window = window_of(row.time_unit, int(row.unit_time or 1))
    if window is None:
        log.warning("plan %s: unknown time unit %r, using minutes", row.name, row.time_unit)
        window = quota_window(row.time_unit, int(row.unit_time or 1))
    burst, burst_seconds = max(0, int(row.rate_limit_count or 0)), 1.0
    if burst:
        burst_window = window_of(row.rate_limit_time_unit or "sec", 1)
        if burst_window is None or burst_window.months:
            log.warning(
                "plan %s: unknown rate-limit unit %r, using seconds", row.name, row.rate_limit_time_unit
            )
        else:
            burst_seconds = burst_window.seconds
    return Plan(
        id=row.id,
        name=row.name,
        quota=quota,
        quota_bytes=quota_bytes,
        quota_window=window,
        stop_on_quota=bool(row.stop_on_quota_reach),
        burst=burst,
        burst_seconds=burst_seconds,
        billing_plan=row.billing_plan,
    )


def load_snapshot(engine: Engine, default_timeout: float) -> Snapshot:
    """Everything but access tokens, as of one version of the change counter."""
    with engine.connect() as conn, conn.begin():
        version = int(conn.scalar(select(ConfigVersion.version).where(ConfigVersion.name == "gateway")) or 0)
        snap = Snapshot(version=version)
        for tenant_id, domain in conn.execute(select(Tenant.id, Tenant.domain).where(Tenant.active)):
            snap.tenants[domain] = tenant_id
        snap.default_tenant_id = snap.tenants.get(DEFAULT_TENANT, "")
        domains = {tenant_id: domain for domain, tenant_id in snap.tenants.items()}

        api_rows = conn.execute(
            select(
                Api.id,
                Api.tenant_id,
                Api.name,
                Api.context,
                Api.version,
                Api.endpoint_config,
                Api.backend_timeout_ms,
            ).where(Api.lifecycle_status.in_(SERVED_STATES))
        )
        for row in api_rows:
            domain = domains.get(row.tenant_id)
            if domain is None:  # tenant deactivated
                continue
            context = "/" + row.context.strip("/")
            tenant_part = "" if domain == DEFAULT_TENANT else f"/t/{domain}"
            prefix = f"{tenant_part}{context}/{row.version}".encode()
            timeout = row.backend_timeout_ms / 1000 if row.backend_timeout_ms else default_timeout
            snap.routes[prefix] = ApiRoute(
                id=row.id,
                tenant_id=row.tenant_id,
                name=row.name,
                prefix=prefix,
                production=parse_backend(row.endpoint_config, "production_endpoints"),
                sandbox=parse_backend(row.endpoint_config, "sandbox_endpoints"),
                timeout=timeout,
            )
        snap.max_segments = max([2, *(p.count(b"/") for p in snap.routes)])

        for row in conn.execute(select(SubscriptionPolicy)):
            snap.plans[row.id] = build_plan(row)

        for app_id, tenant_id in conn.execute(select(Application.id, Application.tenant_id)):
            snap.applications[app_id] = ApplicationEntry(app_id, tenant_id)

        sub_rows = conn.execute(
            select(
                Subscription.id,
                Subscription.status,
                Subscription.api_id,
                Subscription.application_id,
                Subscription.tenant_id,
                Subscription.policy_id,
            )
        )
        for row in sub_rows:
            app = snap.applications.get(row.application_id)
            plan = snap.plans.get(row.policy_id)
            if app is None or plan is None:
                continue
            app.subscriptions[row.api_id] = SubscriptionEntry(
                row.id, row.status, row.api_id, row.application_id, row.tenant_id, plan
            )

        now = datetime.now(UTC)
        key_rows = conn.execute(
            select(ApiKey.key_hash, ApiKey.application_id, ApiKey.key_type, ApiKey.expires_at).where(
                ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
            )
        )
        for key_hash, app_id, key_type, expires_at in key_rows:
            snap.api_keys[key_hash] = _credential(app_id, key_type, expires_at)
        load_prepaid(conn, snap, now)
    return snap


def _credential(app_id: str, key_type: str | None, expires_at: datetime | None) -> Credential:
    return Credential(
        application_id=app_id,
        expires_at=expires_at.timestamp() if expires_at else INFINITY,
        sandbox=(key_type or "").upper() == "SANDBOX",
    )


def load_credentials(
    engine: Engine, token_digests: Collection[str], key_digests: Collection[str]
) -> tuple[dict[str, Credential], dict[str, Credential]]:
    """The live application access tokens and API keys among the given digests."""
    now = datetime.now(UTC)
    tokens: dict[str, Credential] = {}
    keys: dict[str, Credential] = {}
    with engine.connect() as conn:
        token_list = list(token_digests)
        for start in range(0, len(token_list), DIGESTS_PER_QUERY):
            rows = conn.execute(
                select(
                    OAuthToken.token_hash,
                    OAuthToken.application_id,
                    OAuthClient.key_type,
                    OAuthToken.expires_at,
                )
                .join(OAuthClient, OAuthClient.id == OAuthToken.client_pk)
                .where(
                    OAuthToken.token_hash.in_(token_list[start : start + DIGESTS_PER_QUERY]),
                    and_(
                        OAuthToken.kind == "access",
                        OAuthToken.application_id.is_not(None),
                        OAuthToken.revoked_at.is_(None),
                        OAuthToken.expires_at > now,
                        OAuthClient.revoked_at.is_(None),
                    ),
                )
            )
            for digest, app_id, key_type, expires_at in rows:
                tokens[digest] = _credential(app_id, key_type, expires_at)
        key_list = list(key_digests)
        for start in range(0, len(key_list), DIGESTS_PER_QUERY):
            rows = conn.execute(
                select(ApiKey.key_hash, ApiKey.application_id, ApiKey.key_type, ApiKey.expires_at).where(
                    ApiKey.key_hash.in_(key_list[start : start + DIGESTS_PER_QUERY]),
                    ApiKey.revoked_at.is_(None),
                    or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
                )
            )
            for digest, app_id, key_type, expires_at in rows:
                keys[digest] = _credential(app_id, key_type, expires_at)
    return tokens, keys
