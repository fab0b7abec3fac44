"""Invoices and revenue over REST.

Publisher: ``GET /apis/{apiId}/revenue``, ``GET /subscriptions/{subscriptionId}/usage``.
Developer portal: ``GET /subscriptions/{subscriptionId}/usage`` (the subscription's owner only).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tollway.identity.principal import Principal, requires
from tollway.invoicing import invoices
from tollway.invoicing.schemas import RevenueOut, UsageOut
from tollway.monetization.endpoints import Monetization, api_in_tenant
from tollway.rest.deps import DbSession
from tollway.rest.prefixes import PUBLISHER, STORE
from tollway.rest.responses import ERRORS
from tollway.subscriptions.service import get_in_tenant, get_owned

TAG = "Monetization"
publisher_router = APIRouter(prefix=PUBLISHER, tags=[TAG], responses=ERRORS)
store_router = APIRouter(prefix=STORE, tags=[TAG], responses=ERRORS)

ApiViewer = Annotated[Principal, Depends(requires("apim:api_view"))]
SubscriptionViewer = Annotated[Principal, Depends(requires("apim:subscription_view"))]
Subscriber = Annotated[Principal, Depends(requires("apim:sub_manage", "apim:subscribe"))]


@publisher_router.get("/apis/{apiId}/revenue", response_model=RevenueOut, summary="Total revenue of an API")
def get_api_revenue(apiId: str, session: DbSession, svc: Monetization, caller: ApiViewer) -> RevenueOut:
    return RevenueOut(properties=invoices.api_revenue(svc, session, api_in_tenant(session, caller, apiId)))


@publisher_router.get(
    "/subscriptions/{subscriptionId}/usage",
    response_model=UsageOut,
    summary="Current invoice of a subscription to one of the tenant's APIs",
)
def publisher_usage(
    subscriptionId: str, session: DbSession, svc: Monetization, caller: SubscriptionViewer
) -> UsageOut:
    subscription = get_in_tenant(session, caller.tenant_id, subscriptionId)
    return UsageOut.model_validate(
        invoices.invoice_body(invoices.current_invoice(svc, session, subscription.id))
    )


@store_router.get(
    "/subscriptions/{subscriptionId}/usage",
    response_model=UsageOut,
    summary="Current invoice of one of your subscriptions",
)
def store_usage(subscriptionId: str, session: DbSession, svc: Monetization, caller: Subscriber) -> UsageOut:
    subscription = get_owned(session, caller, subscriptionId)
    return UsageOut.model_validate(
        invoices.invoice_body(invoices.current_invoice(svc, session, subscription.id))
    )
