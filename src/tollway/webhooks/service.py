"""Webhook endpoints of a tenant (publishers, admins) or of a subscriber's application, and their
deliveries: list with the attempts, send again by hand."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tollway.applications.service import get_application
from tollway.config import WebhookSettings
from tollway.db.base import new_id, utcnow
from tollway.errors import BadRequest, NotFound
from tollway.identity.principal import Principal
from tollway.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from tollway.security.secretbox import SecretBox
from tollway.webhooks import signing, targets
from tollway.webhooks.schemas import EndpointIn

MAX_ENDPOINTS = 16  # per tenant or application


def scope_of(session: Session, caller: Principal, application_id: str | None) -> str | None:
    """The application whose endpoints these are (the caller's own), or None for the tenant's."""
    if application_id is None:
        return None
    return get_application(session, caller, application_id).id


def _endpoints(session: Session, caller: Principal, application_id: str | None) -> Sequence[WebhookEndpoint]:
    owner = WebhookEndpoint.application_id
    scope = owner.is_(None) if application_id is None else owner == application_id
    return session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == caller.tenant_id, scope)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    ).all()


def list_endpoints(
    session: Session, caller: Principal, application_id: str | None
) -> Sequence[WebhookEndpoint]:
    return _endpoints(session, caller, scope_of(session, caller, application_id))


def get_endpoint(
    session: Session, caller: Principal, application_id: str | None, endpoint_id: str
) -> WebhookEndpoint:
    scope = scope_of(session, caller, application_id)
    found = session.get(WebhookEndpoint, endpoint_id)
    if found is None or found.tenant_id != caller.tenant_id or found.application_id != scope:
        raise NotFound(f"webhook endpoint {endpoint_id!r} not found")
    return found


def _check_url(settings: WebhookSettings, application_id: str | None, url: str) -> None:
    if application_id is None or settings.allow_internal_targets:
        return
    if targets.is_internal(targets.host_of(url)):
        raise BadRequest("url: points at a loopback, private or link-local address; use a public one")


def create_endpoint(
    session: Session,
    caller: Principal,
    box: SecretBox,
    settings: WebhookSettings,
    application_id: str | None,
    body: EndpointIn,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret (shown this once; stored encrypted)."""
    scope = scope_of(session, caller, application_id)
    if len(_endpoints(session, caller, scope)) >= MAX_ENDPOINTS:
        raise BadRequest(f"url: at most {MAX_ENDPOINTS} webhook endpoints each; delete one first")
    _check_url(settings, scope, body.url)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=new_id(),
        tenant_id=caller.tenant_id,
        application_id=scope,
        url=body.url,
        secret_encrypted=box.encrypt(secret),
        event_types=sorted(set(body.eventTypes)),
        enabled=body.enabled,
        description=body.description,
        created_by=caller.username,
        created_at=utcnow(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def update_endpoint(
    session: Session, settings: WebhookSettings, endpoint: WebhookEndpoint, body: EndpointIn
) -> WebhookEndpoint:
    _check_url(settings, endpoint.application_id, body.url)
    endpoint.url = body.url
    endpoint.event_types = sorted(set(body.eventTypes))
    endpoint.description = body.description
    endpoint.enabled = body.enabled
    session.flush()
    return endpoint


def deliveries(
    session: Session,
    endpoint: WebhookEndpoint,
    *,
    status: str | None = None,
    delivery_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[int, list[tuple[WebhookDelivery, WebhookEvent, list[WebhookAttempt]]]]:
    """Newest first, each with its event and attempts (oldest first)."""
    where = [WebhookDelivery.endpoint_id == endpoint.id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    if delivery_id is not None:
        where.append(WebhookDelivery.id == delivery_id)
    total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0
    rows = session.execute(
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(*where)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
        .offset(offset)
    ).all()
    attempts: dict[str, list[WebhookAttempt]] = {delivery.id: [] for delivery, _ in rows}
    if attempts:
        for attempt in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(attempts))
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return total, [(delivery, event, attempts[delivery.id]) for delivery, event in rows]


def redeliver(session: Session, endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again now, whatever its state (a receiver lost it, or it FAILED)."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound(f"delivery {delivery_id!r} not found")
    now = utcnow()
    delivery.status, delivery.next_attempt_at, delivery.window_start = "PENDING", now, now
    session.flush()
    return delivery
