"""The developer portal's catalog, applications, keys, subscriptions and invoices."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.apis import catalog as api_catalog
from tollway.applications import credentials
from tollway.applications import repository as app_repository
from tollway.applications import service as app_service
from tollway.applications.schemas import ApiKeyGenerateIn, ApplicationIn, KeyGenerateIn, TokenGenerateIn
from tollway.db.ids import is_object_id
from tollway.errors import BadRequest
from tollway.identity.principal import Principal
from tollway.invoicing import invoices
from tollway.models import (
    DEFAULT_TENANT,
    Api,
    Application,
    Subscription,
    SubscriptionPolicy,
)
from tollway.policies import service as policy_service
from tollway.portals.formatting import plan_price
from tollway.portals.forms import words_for
from tollway.portals.services.common import (
    PORTAL_LIST_LIMIT,
    checked_id,
    dump,
    invoice_or_none,
    require_subscriber,
)
from tollway.runtime import Runtime
from tollway.subscriptions import repository as sub_repository
from tollway.subscriptions import service as sub_service
from tollway.subscriptions.schemas import SubscriptionIn


def catalog(db: Session, tenant_domain: str) -> list[dict[str, Any]]:
    tenant = api_catalog.catalog_tenant(db, None, None, tenant_domain)
    _, rows = api_catalog.list_catalog(db, tenant.id, query=None, limit=PORTAL_LIST_LIMIT, offset=0)
    return [
        {**dump(api_catalog.store_api_out(db, api)), "monetizationEnabled": api.monetization_enabled}
        for api in rows
    ]


def catalog_api(db: Session, tenant_domain: str, api_id: str) -> dict[str, Any]:
    tenant = api_catalog.catalog_tenant(db, None, None, tenant_domain)
    api = api_catalog.catalog_api(db, tenant.id, checked_id(api_id))
    body = dump(api_catalog.store_api_out(db, api))
    names = {p.name: p for p in policy_service.list_policies(db, tenant.id)}
    for tier in body["tiers"]:
        policy = names.get(tier["tierName"])
        if policy is not None:
            tier["displayName"] = policy.display_name or policy.name
            tier["description"] = policy.description or ""
            tier["billingMode"] = policy.billing_mode
    body["gatewayPath"] = _gateway_path(api, tenant.domain)
    return body


def _gateway_path(api: Api, tenant_domain: str) -> str:
    prefix = "" if tenant_domain == DEFAULT_TENANT else f"/t/{tenant_domain}"
    return f"{prefix}{api.context}/{api.version}"


def list_applications(db: Session, principal: Principal) -> list[dict[str, Any]]:
    require_subscriber(principal)
    _, rows = app_service.list_applications(db, principal, query=None, limit=PORTAL_LIST_LIMIT, offset=0)
    counts = app_repository.subscription_counts(db, [app.id for app in rows])
    return [dump(app_service.application_out(a, principal.username, counts.get(a.id, 0))) for a in rows]


def get_application(db: Session, principal: Principal, application_id: str) -> dict[str, Any]:
    require_subscriber(principal)
    app = app_service.get_application(db, principal, checked_id(application_id))
    count = app_repository.subscription_counts(db, [app.id]).get(app.id, 0)
    return dump(app_service.application_out(app, principal.username, count))


def delete_application(db: Session, runtime: Runtime, principal: Principal, application_id: str) -> str:
    """Delete one of the caller's applications, as DELETE /applications/{id} does: its
    subscriptions end (their billing with them) and its keys stop working. Answers its name."""
    require_subscriber(principal)
    app = app_service.get_application(db, principal, checked_id(application_id))
    name = app.name
    app_service.delete_application(db, runtime.hooks, app)
    return name


def create_application(
    db: Session, runtime: Runtime, principal: Principal, name: str, description: str | None
) -> dict[str, Any]:
    require_subscriber(principal)
    try:
        body = ApplicationIn.model_validate({"name": name, "description": description})
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    app = app_service.create_application(db, runtime.settings, principal, body)
    return dump(app_service.application_out(app, principal.username, 0))


def application_keys(db: Session, principal: Principal, application_id: str) -> dict[str, Any] | None:
    """The application's PRODUCTION key pair (consumer key only), or None before it is generated."""
    require_subscriber(principal)
    app = app_service.get_application(db, principal, checked_id(application_id))
    for key in credentials.list_keys(db, app):
        if key.keyType == "PRODUCTION":
            return dump(key)
    return None


def generate_keys(db: Session, runtime: Runtime, principal: Principal, application_id: str) -> dict[str, Any]:
    require_subscriber(principal)
    app = app_service.get_application(db, principal, checked_id(application_id))
    body = KeyGenerateIn.model_validate(
        {"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]}
    )
    return dump(credentials.generate_keys(db, app, principal.username, body))


API_KEY_VALIDITY = {"3600": "1 hour", "86400": "1 day", "2592000": "30 days", "-1": "no expiry"}


def generate_api_key(
    db: Session, runtime: Runtime, principal: Principal, application_id: str, validity: str
) -> dict[str, Any]:
    """POST .../api-keys/PRODUCTION/generate: the key, shown once (Tollway keeps its hash)."""
    require_subscriber(principal)
    app = app_service.get_application(db, principal, checked_id(application_id))
    if validity not in API_KEY_VALIDITY:
        raise BadRequest("'validityPeriod': choose 1 hour, 1 day, 30 days or no expiry")
    body = ApiKeyGenerateIn.model_validate({"validityPeriod": int(validity)})
    return dump(credentials.generate_api_key(db, app, "PRODUCTION", body))


def revoke_api_key(db: Session, principal: Principal, application_id: str, key: str) -> None:
    """POST .../api-keys/PRODUCTION/revoke: the gateway refuses the key from its next reload."""
    require_subscriber(principal)
    app = app_service.get_application(db, principal, checked_id(application_id))
    if not key.strip():
        raise BadRequest("'apikey': paste the API key to revoke")
    credentials.revoke_api_key(db, app, "PRODUCTION", key.strip())


def generate_token(
    db: Session, runtime: Runtime, principal: Principal, application_id: str, consumer_secret: str
) -> dict[str, Any]:
    require_subscriber(principal)
    app = app_service.get_application(db, principal, checked_id(application_id))
    try:
        body = TokenGenerateIn.model_validate({"consumerSecret": consumer_secret})
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    return dump(credentials.generate_token(db, app, "PRODUCTION", body))


def subscribed_application_ids(db: Session, principal: Principal, api_id: str) -> set[str]:
    require_subscriber(principal)
    if not is_object_id(api_id):
        return set()
    _, rows = sub_repository.list_owned(
        db,
        principal.tenant_id,
        app_service.owner_id(principal),
        application_id=None,
        api_id=api_id,
        limit=PORTAL_LIST_LIMIT,
        offset=0,
    )
    return {row[0].application_id for row in rows}


def subscribe(
    db: Session, runtime: Runtime, principal: Principal, api_id: str, application_id: str, plan: str
) -> dict[str, Any]:
    require_subscriber(principal)
    try:
        body = SubscriptionIn.model_validate(
            {"applicationId": application_id, "apiId": api_id, "throttlingPolicy": plan}
        )
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    sub = sub_service.subscribe(db, runtime.hooks, runtime.settings, principal, body)
    return {"subscriptionId": sub.id, "status": sub.status}


def unsubscribe(db: Session, runtime: Runtime, principal: Principal, subscription_id: str) -> bool:
    require_subscriber(principal)
    sub = sub_service.get_owned(db, principal, checked_id(subscription_id))
    return sub_service.unsubscribe(db, runtime.hooks, runtime.settings, sub, principal)


def _subscription_view(db: Session, sub: Subscription, policy_name: str) -> dict[str, Any]:
    api = db.get(Api, sub.api_id)
    app = db.get(Application, sub.application_id)
    policy = db.get(SubscriptionPolicy, sub.policy_id)
    row = invoices.current_row(db, sub.id)
    return {
        "subscriptionId": sub.id,
        "applicationId": sub.application_id,
        "applicationName": app.name if app else "",
        "apiId": sub.api_id,
        "apiName": api.name if api else "",
        "apiVersion": api.version if api else "",
        "throttlingPolicy": policy_name,
        "status": sub.status,
        "price": _plan_price(policy),
        "metered": row is not None,
        "createdAt": sub.created_at,
    }


def _plan_price(policy: Any) -> str:
    if policy is None:
        return ""
    return plan_price(dump(policy_service.policy_out(policy)))


def my_subscriptions(
    db: Session, runtime: Runtime, principal: Principal, application_id: str | None = None
) -> list[dict[str, Any]]:
    require_subscriber(principal)
    if application_id is not None:
        app_service.get_application(db, principal, checked_id(application_id))
    _, rows = sub_repository.list_owned(
        db,
        principal.tenant_id,
        app_service.owner_id(principal),
        application_id=application_id,
        api_id=None,
        limit=PORTAL_LIST_LIMIT,
        offset=0,
    )
    return [_subscription_view(db, row[0], row[1]) for row in rows]


def my_subscription(
    db: Session, runtime: Runtime, principal: Principal, subscription_id: str
) -> dict[str, Any]:
    require_subscriber(principal)
    sub = sub_service.get_owned(db, principal, checked_id(subscription_id))
    return _subscription_view(db, sub, sub_repository.policy_name(db, sub.policy_id))


def subscriber_invoice(
    db: Session, runtime: Runtime, principal: Principal, subscription_id: str
) -> dict[str, Any] | None:
    require_subscriber(principal)
    sub = sub_service.get_owned(db, principal, checked_id(subscription_id))
    return invoice_or_none(db, runtime, sub.id)
