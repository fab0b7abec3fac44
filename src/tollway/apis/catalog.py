"""The developer portal's API catalog: published APIs of a tenant, with their plans' prices.

The catalog is public, as WSO2's developer portal is: anonymous callers choose the tenant with
the ``X-WSO2-Tenant`` header (or ``?tenantDomain=``); signed-in callers see their own tenant's
catalog unless they name another. Listed: PUBLISHED and PROTOTYPED APIs (WSO2 lists both);
also shown by id: DEPRECATED ones, so their subscribers still find them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tollway.apis import lifecycle, repository
from tollway.apis.offers import offered_policies
from tollway.apis.schemas import ApiTier, PriceTierOut, StoreApi, TierMonetizationAttributes
from tollway.errors import NotFound
from tollway.identity.principal import Principal
from tollway.models import DEFAULT_TENANT, Api, SubscriptionPolicy, Tenant
from tollway.policies.pricing_input import price_text, tier_texts
from tollway.rest.schemas import clean_query


def catalog_tenant(
    session: Session, caller: Principal | None, header: str | None, query: str | None
) -> Tenant:
    domain = clean_query(header, "X-WSO2-Tenant") or clean_query(query, "tenantDomain")
    if not domain:
        domain = caller.tenant_domain if caller is not None else DEFAULT_TENANT
    tenant = session.scalar(select(Tenant).where(func.lower(Tenant.domain) == domain.strip().lower()))
    if tenant is None or not tenant.active:
        raise NotFound(f"tenant {domain!r} not found")
    return tenant


def list_catalog(
    session: Session, tenant_id: str, *, query: str | None, limit: int, offset: int
) -> tuple[int, Sequence[Api]]:
    return repository.list_apis(
        session, tenant_id, query=query, limit=limit, offset=offset, states=lifecycle.LISTED_STATES
    )


def catalog_api(session: Session, tenant_id: str, api_id: str) -> Api:
    api = repository.get_api(session, tenant_id, api_id)
    if api is None or api.lifecycle_status not in lifecycle.VISIBLE_STATES:
        raise NotFound(f"API {api_id!r} not found")
    return api


def tier_out(policy: SubscriptionPolicy) -> ApiTier:
    tiers = [PriceTierOut(upTo=up, unitPrice=unit, flatAmount=flat) for up, unit, flat in tier_texts(policy)]
    commercial = policy.monetization_plan is not None
    return ApiTier(
        tierName=policy.name,
        tierPlan=policy.billing_plan,
        monetizationAttributes=TierMonetizationAttributes(
            fixedPrice=price_text(policy.fixed_price),
            pricePerRequest=price_text(policy.price_per_request),
            currencyType=policy.currency,
            billingCycle=policy.billing_cycle,
            includedRequests=policy.included_requests if commercial else None,
            tiers=tiers or None,
            tierMode=policy.tier_mode,
        ),
    )


def store_api_out(session: Session, api: Api) -> StoreApi:
    """The API as subscribers see it: only the plans they can subscribe with (see ``apis.offers``)."""
    policies = offered_policies(session, api)
    return StoreApi(
        id=api.id,
        name=api.name,
        description=api.description,
        context=api.context,
        version=api.version,
        provider=api.provider,
        lifeCycleStatus=api.lifecycle_status,
        throttlingPolicies=[p.name for p in policies],
        tiers=[tier_out(p) for p in policies],
    )
