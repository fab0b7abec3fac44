"""Webhook endpoints and their delivery log: of one of the subscriber's applications (developer
portal, ``application_id``) or of the tenant (publisher portal, ``application_id`` None).

Thin calls of :mod:`tollway.webhooks.service` with the same callers, scopes and shapes as
``/store/v1/applications/{applicationId}/webhooks`` and ``/publisher/v1/webhooks``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.errors import BadRequest
from tollway.identity.principal import Principal
from tollway.models import WebhookEndpoint
from tollway.portals.forms import words_for
from tollway.portals.services.common import PORTAL_LIST_LIMIT, checked_id, dump, require
from tollway.runtime import Runtime
from tollway.webhooks import service
from tollway.webhooks.endpoints import delivery_out, endpoint_out
from tollway.webhooks.schemas import EndpointIn

SUBSCRIBER_SCOPES = ("apim:subscribe", "apim:app_manage")  # as the store webhook endpoints
PUBLISHER_SCOPES = ("apim:api_publish", "apim:admin")  # as the publisher webhook endpoints


def _scope(principal: Principal, application_id: str | None) -> str | None:
    require(principal, *(PUBLISHER_SCOPES if application_id is None else SUBSCRIBER_SCOPES))
    return None if application_id is None else checked_id(application_id)


def _endpoint(
    db: Session, principal: Principal, application_id: str | None, endpoint_id: str
) -> WebhookEndpoint:
    scope = _scope(principal, application_id)
    return service.get_endpoint(db, principal, scope, checked_id(endpoint_id))


def endpoints(db: Session, principal: Principal, application_id: str | None) -> list[dict[str, Any]]:
    scope = _scope(principal, application_id)
    return [dump(endpoint_out(e)) for e in service.list_endpoints(db, principal, scope)]


def add_endpoint(
    db: Session,
    runtime: Runtime,
    principal: Principal,
    application_id: str | None,
    url: str,
    event_types: list[str],
) -> dict[str, Any]:
    """The new endpoint with its signing secret (``secret``), which no later answer shows."""
    scope = _scope(principal, application_id)
    try:
        body = EndpointIn.model_validate({"url": url, "eventTypes": event_types})
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    made, secret = service.create_endpoint(
        db, principal, runtime.secrets, runtime.settings.webhooks, scope, body
    )
    return dump(endpoint_out(made, secret))


def delete_endpoint(db: Session, principal: Principal, application_id: str | None, endpoint_id: str) -> None:
    db.delete(_endpoint(db, principal, application_id, endpoint_id))
    db.flush()


def endpoint_log(
    db: Session, principal: Principal, application_id: str | None, endpoint_id: str
) -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
    """The endpoint, how many deliveries it has, and the newest of them with their attempts."""
    found = _endpoint(db, principal, application_id, endpoint_id)
    total, rows = service.deliveries(db, found, limit=PORTAL_LIST_LIMIT, offset=0)
    return dump(endpoint_out(found)), total, [dump(delivery_out(*row)) for row in rows]


def redeliver(
    db: Session, principal: Principal, application_id: str | None, endpoint_id: str, delivery_id: str
) -> None:
    found = _endpoint(db, principal, application_id, endpoint_id)
    service.redeliver(db, found, checked_id(delivery_id))
