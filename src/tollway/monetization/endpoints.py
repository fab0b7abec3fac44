"""Monetization REST endpoints under the publisher, developer-portal and admin APIs.

Publisher: ``POST /apis/{apiId}/monetize``, ``GET /apis/{apiId}/monetization``,
``GET /apis/{apiId}/revenue``, ``GET /subscriptions/{subscriptionId}/usage``.
Developer portal: ``GET /subscriptions/{subscriptionId}/usage`` (the subscription's owner only).
Admin: ``POST /monetization/publish-usage`` and ``GET /monetization/publish-usage/status``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from tollway.apis.repository import get_api
from tollway.auth.principal import Principal
from tollway.errors import NotFound
from tollway.models import Api
from tollway.monetization import apis, invoices, jobs
from tollway.monetization.schemas import (
    MonetizationOut,
    MonetizeIn,
    PublishAccepted,
    PublishStatus,
    RevenueOut,
    UsageOut,
)
from tollway.monetization.service import MonetizationService
from tollway.monetization.setup import monetization_of
from tollway.rest.deps import CurrentRuntime, DbSession, requires
from tollway.rest.prefixes import ADMIN, PUBLISHER, STORE
from tollway.rest.responses import ERRORS
from tollway.subscriptions.service import get_in_tenant, get_owned

TAG = "Monetization"
publisher_router = APIRouter(prefix=PUBLISHER, tags=[TAG], responses=ERRORS)
store_router = APIRouter(prefix=STORE, tags=[TAG], responses=ERRORS)
admin_router = APIRouter(prefix=ADMIN + "/monetization", tags=[TAG], responses=ERRORS)

ApiViewer = Annotated[Principal, Depends(requires("apim:api_view"))]
ApiPublisher = Annotated[Principal, Depends(requires("apim:api_publish"))]
SubscriptionViewer = Annotated[Principal, Depends(requires("apim:subscription_view"))]
Subscriber = Annotated[Principal, Depends(requires("apim:sub_manage", "apim:subscribe"))]
UsagePublisher = Annotated[Principal, Depends(requires("apim:monetization_usage_publish"))]


def get_monetization(runtime: CurrentRuntime) -> MonetizationService:
    return monetization_of(runtime)


Monetization = Annotated[MonetizationService, Depends(get_monetization)]


def _api(session: DbSession, caller: Principal, api_id: str) -> Api:
    api = get_api(session, caller.tenant_id, api_id)
    if api is None:
        raise NotFound(f"API {api_id!r} not found")
    return api


def _monetization_out(session: DbSession, api: Api) -> MonetizationOut:
    return MonetizationOut(enabled=api.monetization_enabled, properties=apis.tier_plan_mapping(session, api))


@publisher_router.post(
    "/apis/{apiId}/monetize",
    response_model=MonetizationOut,
    status_code=201,
    summary="Enable or disable monetization of an API",
)
def monetize_api(
    apiId: str, body: MonetizeIn, session: DbSession, svc: Monetization, caller: ApiPublisher
) -> MonetizationOut:
    api = _api(session, caller, apiId)
    if body.enabled:
        apis.enable(svc, session, api, body.properties)
    else:
        apis.disable(svc, session, api)
    return _monetization_out(session, api)


@publisher_router.get(
    "/apis/{apiId}/monetization",
    response_model=MonetizationOut,
    summary="Monetization status of an API and its tier -> plan mapping",
)
def get_api_monetization(apiId: str, session: DbSession, caller: ApiViewer) -> MonetizationOut:
    return _monetization_out(session, _api(session, caller, apiId))


@publisher_router.get("/apis/{apiId}/revenue", response_model=RevenueOut, summary="Total revenue of an API")
def get_api_revenue(apiId: str, session: DbSession, svc: Monetization, caller: ApiViewer) -> RevenueOut:
    return RevenueOut(properties=invoices.api_revenue(svc, session, _api(session, caller, apiId)))


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


@admin_router.post(
    "/publish-usage",
    response_model=PublishAccepted,
    status_code=202,
    summary="Publish usage to the billing engine (in the background)",
    responses={409: {"model": PublishAccepted, "description": "A job is already running"}},
)
def publish_usage(svc: Monetization, caller: UsagePublisher) -> Response:
    try:
        jobs.start_in_background(svc, svc.session_factory, "api")
    except jobs.JobBusy:
        return JSONResponse(
            {"status": "Server could not accept the request", "message": "A job is already running"},
            status_code=409,
        )
    return JSONResponse(
        {"status": "Request Accepted", "message": "Server is running the usage publisher"}, status_code=202
    )


@admin_router.get(
    "/publish-usage/status", response_model=PublishStatus, summary="Status of the last usage-publishing job"
)
def publish_usage_status(session: DbSession, caller: UsagePublisher) -> PublishStatus:
    return PublishStatus.model_validate(jobs.status(session))


def monetization_routers() -> list[APIRouter]:
    return [publisher_router, store_router, admin_router]
