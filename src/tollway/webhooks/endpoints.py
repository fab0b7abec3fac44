"""REST: webhook endpoints of the tenant (publisher API) and of a subscriber's application (store API).

    {PUBLISHER}/webhooks[/{endpointId}[/deliveries[/{deliveryId}/redeliver]]]
    {STORE}/applications/{applicationId}/webhooks[/...]   (the caller's own applications only)

The signing secret is answered once, at creation; it is stored encrypted and never shown again.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from tollway.identity.principal import Principal, requires
from tollway.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from tollway.rest.deps import CurrentRuntime, DbSession
from tollway.rest.pagination import Page, page
from tollway.rest.prefixes import PUBLISHER, STORE
from tollway.rest.responses import ERRORS
from tollway.rest.schemas import Choice
from tollway.webhooks import service
from tollway.webhooks.schemas import (
    AttemptOut,
    DeliveryList,
    DeliveryOut,
    EndpointIn,
    EndpointList,
    EndpointOut,
)

TAGS: list[str | Enum] = ["Webhooks"]
publisher_router = APIRouter(prefix=PUBLISHER + "/webhooks", tags=TAGS, responses=ERRORS)
store_router = APIRouter(prefix=STORE + "/applications/{applicationId}/webhooks", tags=TAGS, responses=ERRORS)

Publisher = Annotated[Principal, Depends(requires("apim:api_publish", "apim:admin"))]
Subscriber = Annotated[Principal, Depends(requires("apim:subscribe", "apim:app_manage"))]
Id = Annotated[str, Path(max_length=64)]
Paged = Annotated[Page, Depends(page)]
Status = Annotated[
    str | None, Query(description="PENDING, SUCCEEDED or FAILED"), Choice("PENDING", "SUCCEEDED", "FAILED")
]


def endpoint_out(endpoint: WebhookEndpoint, secret: str | None = None) -> EndpointOut:
    return EndpointOut(
        endpointId=endpoint.id,
        applicationId=endpoint.application_id,
        url=endpoint.url,
        eventTypes=list(endpoint.event_types),
        description=endpoint.description,
        enabled=endpoint.enabled,
        createdAt=endpoint.created_at,
        secret=secret,
    )


def delivery_out(
    delivery: WebhookDelivery, event: WebhookEvent, attempts: list[WebhookAttempt]
) -> DeliveryOut:
    return DeliveryOut(
        deliveryId=delivery.id,
        eventId=event.id,
        eventType=event.type,
        status=delivery.status,
        attempts=delivery.attempts,
        nextAttemptAt=delivery.next_attempt_at if delivery.status == "PENDING" else None,
        lastStatusCode=delivery.last_status_code,
        lastError=delivery.last_error,
        deliveredAt=delivery.delivered_at,
        createdAt=delivery.created_at,
        attemptLog=[
            AttemptOut(
                attemptedAt=a.attempted_at, statusCode=a.status_code, error=a.error, durationMs=a.duration_ms
            )
            for a in attempts
        ],
    )


# What both routers do, for the tenant (application None) or one application.


def _list(session: DbSession, caller: Principal, application: str | None) -> EndpointList:
    found = [endpoint_out(e) for e in service.list_endpoints(session, caller, application)]
    return EndpointList(count=len(found), list=found)


def _create(
    session: DbSession, runtime: CurrentRuntime, caller: Principal, application: str | None, body: EndpointIn
) -> EndpointOut:
    settings = runtime.settings.webhooks
    endpoint, secret = service.create_endpoint(session, caller, runtime.secrets, settings, application, body)
    return endpoint_out(endpoint, secret)


def _deliveries(
    session: DbSession,
    caller: Principal,
    application: str | None,
    endpoint_id: str,
    status: str | None,
    at: Page,
) -> DeliveryList:
    endpoint = service.get_endpoint(session, caller, application, endpoint_id)
    total, rows = service.deliveries(session, endpoint, status=status, limit=at.limit, offset=at.offset)
    found = [delivery_out(*row) for row in rows]
    return DeliveryList(count=len(found), list=found, pagination=at.pagination(total, status=status))


def _redeliver(
    session: DbSession, caller: Principal, application: str | None, endpoint_id: str, delivery_id: str
) -> DeliveryOut:
    endpoint = service.get_endpoint(session, caller, application, endpoint_id)
    service.redeliver(session, endpoint, delivery_id)
    _, rows = service.deliveries(session, endpoint, delivery_id=delivery_id, limit=1, offset=0)
    return delivery_out(*rows[0])


def _update(
    session: DbSession,
    runtime: CurrentRuntime,
    caller: Principal,
    application: str | None,
    endpoint_id: str,
    body: EndpointIn,
) -> EndpointOut:
    endpoint = service.get_endpoint(session, caller, application, endpoint_id)
    return endpoint_out(service.update_endpoint(session, runtime.settings.webhooks, endpoint, body))


def _delete(session: DbSession, caller: Principal, application: str | None, endpoint_id: str) -> Response:
    session.delete(service.get_endpoint(session, caller, application, endpoint_id))
    return Response(status_code=200)


LIST = {"response_model": EndpointList, "summary": "Webhook endpoints"}
CREATE = {
    "response_model": EndpointOut,
    "status_code": 201,
    "summary": "Register a webhook endpoint (its signing secret is in this answer only)",
}
GET = {"response_model": EndpointOut, "summary": "A webhook endpoint"}
PUT = {"response_model": EndpointOut, "summary": "Change a webhook endpoint's URL, events or state"}
DELETE = {"status_code": 200, "response_class": Response, "summary": "Delete a webhook endpoint"}
DELIVERIES = {
    "response_model": DeliveryList,
    "summary": "An endpoint's deliveries, newest first, with attempts",
}
REDELIVER = {"response_model": DeliveryOut, "summary": "Send a delivery again now"}


@publisher_router.get("", **LIST)  # type: ignore[arg-type]
def tenant_list(session: DbSession, caller: Publisher) -> EndpointList:
    return _list(session, caller, None)


@publisher_router.post("", **CREATE)  # type: ignore[arg-type]
def tenant_create(
    body: EndpointIn, session: DbSession, runtime: CurrentRuntime, caller: Publisher
) -> EndpointOut:
    return _create(session, runtime, caller, None, body)


@publisher_router.get("/{endpointId}", **GET)  # type: ignore[arg-type]
def tenant_get(endpointId: Id, session: DbSession, caller: Publisher) -> EndpointOut:
    return endpoint_out(service.get_endpoint(session, caller, None, endpointId))


@publisher_router.put("/{endpointId}", **PUT)  # type: ignore[arg-type]
def tenant_update(
    endpointId: Id, body: EndpointIn, session: DbSession, runtime: CurrentRuntime, caller: Publisher
) -> EndpointOut:
    return _update(session, runtime, caller, None, endpointId, body)


@publisher_router.delete("/{endpointId}", **DELETE)  # type: ignore[arg-type]
def tenant_delete(endpointId: Id, session: DbSession, caller: Publisher) -> Response:
    return _delete(session, caller, None, endpointId)


@publisher_router.get("/{endpointId}/deliveries", **DELIVERIES)  # type: ignore[arg-type]
def tenant_deliveries(
    endpointId: Id, session: DbSession, caller: Publisher, at: Paged, status: Status = None
) -> DeliveryList:
    return _deliveries(session, caller, None, endpointId, status, at)


@publisher_router.post("/{endpointId}/deliveries/{deliveryId}/redeliver", **REDELIVER)  # type: ignore[arg-type]
def tenant_redeliver(endpointId: Id, deliveryId: Id, session: DbSession, caller: Publisher) -> DeliveryOut:
    return _redeliver(session, caller, None, endpointId, deliveryId)


@store_router.get("", **LIST)  # type: ignore[arg-type]
def app_list(applicationId: Id, session: DbSession, caller: Subscriber) -> EndpointList:
    return _list(session, caller, applicationId)


@store_router.post("", **CREATE)  # type: ignore[arg-type]
def app_create(
    applicationId: Id, body: EndpointIn, session: DbSession, runtime: CurrentRuntime, caller: Subscriber
) -> EndpointOut:
    return _create(session, runtime, caller, applicationId, body)


@store_router.get("/{endpointId}", **GET)  # type: ignore[arg-type]
def app_get(applicationId: Id, endpointId: Id, session: DbSession, caller: Subscriber) -> EndpointOut:
    return endpoint_out(service.get_endpoint(session, caller, applicationId, endpointId))


@store_router.put("/{endpointId}", **PUT)  # type: ignore[arg-type]
def app_update(
    applicationId: Id,
    endpointId: Id,
    body: EndpointIn,
    session: DbSession,
    runtime: CurrentRuntime,
    caller: Subscriber,
) -> EndpointOut:
    return _update(session, runtime, caller, applicationId, endpointId, body)


@store_router.delete("/{endpointId}", **DELETE)  # type: ignore[arg-type]
def app_delete(applicationId: Id, endpointId: Id, session: DbSession, caller: Subscriber) -> Response:
    return _delete(session, caller, applicationId, endpointId)


@store_router.get("/{endpointId}/deliveries", **DELIVERIES)  # type: ignore[arg-type]
def app_deliveries(
    applicationId: Id,
    endpointId: Id,
    session: DbSession,
    caller: Subscriber,
    at: Paged,
    status: Status = None,
) -> DeliveryList:
    return _deliveries(session, caller, applicationId, endpointId, status, at)


@store_router.post("/{endpointId}/deliveries/{deliveryId}/redeliver", **REDELIVER)  # type: ignore[arg-type]
def app_redeliver(
    applicationId: Id, endpointId: Id, deliveryId: Id, session: DbSession, caller: Subscriber
) -> DeliveryOut:
    return _redeliver(session, caller, applicationId, endpointId, deliveryId)
