"""``POST /api/am/{engine}/webhook/{tenantDomain}``: where a billing engine's service sends events.

E.g. ``/api/am/stripe/webhook/{tenantDomain}`` for Stripe. No bearer token: the engine checks the
payload's own authentication (Stripe: the ``Stripe-Signature`` header). 200 once the event is
applied (or known not to concern Tollway); 400 for a bad signature or body, which changes nothing;
404 for an unknown tenant or an engine this instance does not bill through; 502 when the engine's
service cannot be asked for the current state (it delivers the event again later).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from tollway.billing.contract import EngineError, WebhookReceiver
from tollway.db.session import transaction
from tollway.errors import BadRequest, BillingEngineError, NotFound
from tollway.identity.users import DOMAIN_SCHEMA
from tollway.models import Tenant
from tollway.monetization.context import tenant_context
from tollway.rest.deps import CurrentRuntime
from tollway.rest.schemas import ErrorBody, ResponseBody
from tollway.runtime import Runtime

router = APIRouter(tags=["Billing engine webhooks"])
MAX_BODY = 1024 * 1024  # engines' events are a few kilobytes
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "Bad signature or body; nothing changed",
        404: "No such tenant, or not the engine this instance bills through",
        502: "The engine's service could not be asked about the event; it delivers it again later",
    }.items()
}
EngineName = Annotated[str, Path(description="the configured [monetization] engine, e.g. stripe")]
TenantDomain = Annotated[
    str, Path(description="the tenant the event concerns", json_schema_extra=DOMAIN_SCHEMA)
]


class WebhookReceived(ResponseBody):
    received: bool
    outcome: str


def receive(runtime: Runtime, engine_name: str, domain: str, payload: bytes, headers: dict[str, str]) -> str:
    engine = runtime.billing
    if engine.name != engine_name or not isinstance(engine, WebhookReceiver):
        raise NotFound(f"this instance does not bill through {engine_name} ([monetization] engine)")
    with transaction(runtime.session_factory) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.domain == domain, Tenant.active.is_(True)))
        if tenant is None:
            raise NotFound(f"no tenant '{domain}'")
        context = tenant_context(session, runtime.secrets, tenant.id)
        try:
            return engine.receive_webhook(session, context, payload, headers)
        except EngineError as error:
            raise BillingEngineError(f"{engine_name} could not be asked about the event: {error}") from None


@router.post(
    "/api/am/{engineName}/webhook/{tenantDomain}",
    response_model=WebhookReceived,
    responses=_ERRORS,
    summary="Receive a billing engine's event",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"description": "the event, as the engine sends it"}}},
        }
    },
)
async def engine_webhook(
    engineName: EngineName, tenantDomain: TenantDomain, request: Request, runtime: CurrentRuntime
) -> JSONResponse:
    payload = await request.body()
    if len(payload) > MAX_BODY:
        raise BadRequest("the body is larger than a billing engine's event can be")
    headers = {key.lower(): value for key, value in request.headers.items()}
    outcome = await run_in_threadpool(receive, runtime, engineName, tenantDomain, payload, headers)
    return JSONResponse({"received": True, "outcome": outcome})
