"""``POST /api/am/stripe/webhook/{tenantDomain}``: where a tenant's Stripe sends its events.

No bearer token: the ``Stripe-Signature`` header, made with the tenant's webhook signing secret,
is the authentication. 200 once the event is applied (or known not to concern Tollway); 400 for
a bad signature or body, which changes nothing; 404 for an unknown tenant or an instance that
does not bill through Stripe; 502 when Stripe cannot be asked for the current state (Stripe
delivers the event again later).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from tollway.app import get_runtime
from tollway.billing.stripe.clients import WEBHOOK_SECRET
from tollway.billing.stripe.engine import StripeEngine
from tollway.billing.stripe.webhooks import process, signing_secrets, verify
from tollway.db.session import transaction
from tollway.errors import BadRequest, BillingEngineError, NotFound
from tollway.models import Tenant
from tollway.monetization.context import tenant_context
from tollway.monetization.engine import EngineError
from tollway.monetization.setup import monetization_of
from tollway.runtime import Runtime

router = APIRouter(tags=["Stripe"])
MAX_BODY = 1024 * 1024  # Stripe's events are a few kilobytes


def receive(runtime: Runtime, domain: str, payload: bytes, signature: str | None) -> str:
    engine = monetization_of(runtime).engine
    if not isinstance(engine, StripeEngine):
        raise NotFound("this instance does not bill through Stripe ([monetization] engine)")
    with transaction(runtime.session_factory) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.domain == domain, Tenant.active.is_(True)))
        if tenant is None:
            raise NotFound(f"no tenant '{domain}'")
        context = tenant_context(session, runtime.secrets, tenant.id)
        secrets = signing_secrets(context.monetization_info.get(WEBHOOK_SECRET) or "")
        if not secrets:
            raise BadRequest(f"'MonetizationInfo.{WEBHOOK_SECRET}': tenant {domain} has not set it")
        event = verify(payload, signature, secrets)
        try:
            return process(session, engine, context, event)
        except EngineError as error:
            raise BillingEngineError(f"Stripe could not be asked about the event: {error}") from None


@router.post("/api/am/stripe/webhook/{tenantDomain}", summary="Receive a Stripe webhook event")
async def stripe_webhook(tenantDomain: str, request: Request) -> JSONResponse:
    payload = await request.body()
    if len(payload) > MAX_BODY:
        raise BadRequest("the body is larger than a Stripe event can be")
    outcome = await run_in_threadpool(
        receive, get_runtime(request), tenantDomain, payload, request.headers.get("Stripe-Signature")
    )
    return JSONResponse({"received": True, "outcome": outcome})


def stripe_routers() -> list[APIRouter]:
    return [router]
