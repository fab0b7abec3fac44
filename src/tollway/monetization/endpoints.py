"""Enabling monetization of an API: the publisher's REST endpoints.

Publisher: ``POST /apis/{apiId}/monetize``, ``GET /apis/{apiId}/monetization``. Invoices and
revenue are served by :mod:`tollway.invoicing.endpoints`, usage publishing by
:mod:`tollway.publishing.endpoints`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tollway.apis.repository import get_api
from tollway.errors import NotFound
from tollway.identity.principal import Principal, requires
from tollway.models import Api
from tollway.monetization import enabling as apis
from tollway.monetization.schemas import (
    MonetizationOut,
    MonetizeIn,
)
from tollway.monetization.service import MonetizationService
from tollway.rest.deps import CurrentRuntime, DbSession
from tollway.rest.prefixes import PUBLISHER
from tollway.rest.responses import ERRORS

TAG = "Monetization"
publisher_router = APIRouter(prefix=PUBLISHER, tags=[TAG], responses=ERRORS)

ApiViewer = Annotated[Principal, Depends(requires("apim:api_view"))]
ApiPublisher = Annotated[Principal, Depends(requires("apim:api_publish"))]


def get_monetization(runtime: CurrentRuntime) -> MonetizationService:
    return MonetizationService(runtime)


Monetization = Annotated[MonetizationService, Depends(get_monetization)]


def api_in_tenant(session: DbSession, caller: Principal, api_id: str) -> Api:
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
    api = api_in_tenant(session, caller, apiId)
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
    return _monetization_out(session, api_in_tenant(session, caller, apiId))
