"""Turn Tollway rows into the engine interface's dataclasses (nothing ORM crosses the interface)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from tollway.billing.contract import ApiSpec, CustomerSpec, PlanSpec, SubscriptionRef, TenantContext
from tollway.errors import NotFound
from tollway.models import Api, MonSubscription, SubscriptionPolicy, Tenant, User
from tollway.pricing.prices import PricingPlan
from tollway.security.secretbox import SecretBox
from tollway.tenants.service import monetization_info as decrypt  # the tenants package owns the format

log = logging.getLogger(__name__)


def monetization_info(session: Session, secrets: SecretBox, tenant: Tenant) -> Mapping[str, str]:
    """The tenant admin's decrypted MonetizationInfo (engine keys); {} when none is set."""
    if not tenant.monetization_secrets:
        return {}
    try:
        return decrypt(session, secrets, tenant.id)
    except ValueError:
        log.error("tenant %s: MonetizationInfo cannot be decrypted with this instance's key", tenant.domain)
        return {}


def tenant_context(session: Session, secrets: SecretBox, tenant_id: str) -> TenantContext:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} does not exist")
    return TenantContext(
        id=tenant.id, domain=tenant.domain, monetization_info=monetization_info(session, secrets, tenant)
    )


def api_spec(api: Api) -> ApiSpec:
    properties = {str(k): str(v) for k, v in (api.monetization_properties or {}).items()}
    return ApiSpec(
        api_id=api.id,
        name=api.name,
        version=api.version,
        context=api.context,
        provider=api.provider,
        properties=properties,
    )


def plan_spec(policy: SubscriptionPolicy, pricing: PricingPlan) -> PlanSpec:
    return PlanSpec(
        policy_id=policy.id,
        name=policy.name,
        display_name=policy.display_name or policy.name,
        description=policy.description or "",
        revision=policy.revision,
        pricing=pricing,
    )


def customer_spec(user: User) -> CustomerSpec:
    full_name = " ".join(part for part in (user.given_name, user.family_name) if part)
    return CustomerSpec(
        user_id=user.id, username=user.username, name=full_name or user.username, email=user.email
    )


def api_snapshot(api: ApiSpec) -> dict[str, Any]:
    return {
        "api_id": api.api_id,
        "name": api.name,
        "version": api.version,
        "context": api.context,
        "provider": api.provider,
        "properties": dict(api.properties),
    }


def api_from_snapshot(data: Mapping[str, Any]) -> ApiSpec:
    return ApiSpec(
        api_id=str(data.get("api_id", "")),
        name=str(data.get("name", "")),
        version=str(data.get("version", "")),
        context=str(data.get("context", "")),
        provider=str(data.get("provider", "")),
        properties={str(k): str(v) for k, v in (data.get("properties") or {}).items()},
    )


def subscription_ref(row: MonSubscription, customer_id: str | None = None) -> SubscriptionRef:
    return SubscriptionRef(
        id=row.engine_subscription_id,
        subscription_id=row.subscription_id,
        api=api_from_snapshot(row.api_snapshot or {}),
        customer_id=customer_id,
        started_at=row.started_at,
        billing_cycle=row.billing_cycle,
        canceled_at=row.canceled_at,
    )
