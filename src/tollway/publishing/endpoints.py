"""Usage publishing over REST (admin): ``POST /monetization/publish-usage`` and
``GET /monetization/publish-usage/status``, as in WSO2."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from tollway.identity.principal import Principal, requires
from tollway.monetization.endpoints import Monetization
from tollway.publishing import jobs
from tollway.publishing.schemas import PublishAccepted, PublishStatus
from tollway.rest.deps import DbSession
from tollway.rest.prefixes import ADMIN
from tollway.rest.responses import ERRORS

admin_router = APIRouter(prefix=ADMIN + "/monetization", tags=["Monetization"], responses=ERRORS)

UsagePublisher = Annotated[Principal, Depends(requires("apim:monetization_usage_publish"))]


@admin_router.post(
    "/publish-usage",
    response_model=PublishAccepted,
    status_code=202,
    summary="Publish usage to the billing engine (in the background)",
    responses={409: {"model": PublishAccepted, "description": "A job is already running"}},
)
def publish_usage(svc: Monetization, session: DbSession, caller: UsagePublisher) -> Response:
    # The lock goes through the request's own session (the one that resolved the caller): a
    # request never holds a pooled connection while it waits for another, and a running job is
    # refused from one read, without waiting (parallel requests once starved the pool).
    try:
        jobs.start_in_background(svc, svc.session_factory, "api", session)
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
