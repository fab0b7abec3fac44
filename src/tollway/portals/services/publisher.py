"""The publisher portal's APIs, monetization, subscriptions, invoices and revenue."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.apis import lifecycle
from tollway.apis import service as api_service
from tollway.apis.schemas import ApiIn
from tollway.errors import BadRequest, NotFound
from tollway.identity.principal import Principal, qualified_username
from tollway.invoicing import invoices
from tollway.models import Api
from tollway.monetization import enabling as monetized_apis
from tollway.monetization.service import MonetizationService
from tollway.portals.forms import words_for
from tollway.portals.services.common import PORTAL_LIST_LIMIT, checked_id, dump, invoice_or_none, require
from tollway.runtime import Runtime
from tollway.subscriptions import repository as sub_repository
from tollway.subscriptions import service as sub_service


def _api_dict(db: Session, api: Api) -> dict[str, Any]:
    body = dump(api_service.api_out(db, api))
    # Not part of the REST API object (it has its own /monetization resource); the pages show it.
    body["monetizationEnabled"] = api.monetization_enabled
    body["actions"] = [a for a in lifecycle.TRANSITIONS.get(api.lifecycle_status, {}) if a != _redeploy(api)]
    return body


def _redeploy(api: Api) -> str:
    """The action that only re-deploys an API in its own state ("Publish" on a PUBLISHED API): no
    button for it in the page."""
    return lifecycle.PUBLISH if api.lifecycle_status == lifecycle.PUBLISHED else ""


def _publisher_api(db: Session, principal: Principal, api_id: str) -> Api:
    require(principal, "apim:api_view", "apim:api_create", "apim:api_publish")
    return api_service.get_api(db, principal.tenant_id, checked_id(api_id))


def list_apis(db: Session, principal: Principal) -> list[dict[str, Any]]:
    require(principal, "apim:api_view", "apim:api_create", "apim:api_publish")
    _, rows = api_service.list_apis(db, principal.tenant_id, query=None, limit=PORTAL_LIST_LIMIT, offset=0)
    return [{**dump(api_service.api_info(a)), "monetizationEnabled": a.monetization_enabled} for a in rows]


def get_api(db: Session, principal: Principal, api_id: str) -> dict[str, Any]:
    return _api_dict(db, _publisher_api(db, principal, api_id))


def create_api(db: Session, runtime: Runtime, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    require(principal, "apim:api_create")
    try:
        parsed = ApiIn.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    return _api_dict(db, api_service.create_api(db, principal, parsed))


def update_api(
    db: Session, runtime: Runtime, principal: Principal, api_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """PUT /apis/{id} with the API as it is and ``changes`` laid over it (the form does not show
    everything the REST body holds, e.g. sandbox endpoints, and those stay)."""
    require(principal, "apim:api_create")
    api = _publisher_api(db, principal, api_id)
    current = dump(api_service.api_out(db, api))
    endpoints = dict(current.get("endpointConfig") or {})
    if "endpoint" in changes:
        endpoints["production_endpoints"] = {"url": changes.pop("endpoint")}
    body = {**current, **changes, "endpointConfig": endpoints}
    try:
        parsed = ApiIn.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    return _api_dict(db, api_service.update_api(db, principal, api, parsed))


def delete_api(db: Session, runtime: Runtime, principal: Principal, api_id: str) -> str:
    """DELETE /apis/{id}; refused (409) while the API has subscriptions. Answers its name."""
    require(principal, "apim:api_create")
    api = _publisher_api(db, principal, api_id)
    name = f"{api.name} {api.version}"
    api_service.delete_api(db, runtime.hooks, api)
    return name


def change_lifecycle(db: Session, runtime: Runtime, principal: Principal, api_id: str, action: str) -> str:
    require(principal, "apim:api_publish")
    api = api_service.change_lifecycle(db, _publisher_api(db, principal, api_id), action)
    return api.lifecycle_status


def get_api_monetization(db: Session, runtime: Runtime, principal: Principal, api_id: str) -> dict[str, Any]:
    api = _publisher_api(db, principal, api_id)
    return {
        "enabled": api.monetization_enabled,
        "plans": monetized_apis.tier_plan_mapping(db, api),
        "attributes": dict(api.monetization_properties or {}),
    }


def set_api_monetization(
    db: Session,
    runtime: Runtime,
    principal: Principal,
    api_id: str,
    enabled: bool,
    properties: dict[str, str],
) -> None:
    require(principal, "apim:api_publish")
    api = _publisher_api(db, principal, api_id)
    svc = MonetizationService(runtime)
    if enabled:
        monetized_apis.enable(svc, db, api, properties)
    else:
        monetized_apis.disable(svc, db, api)


def api_subscriptions(db: Session, principal: Principal, api_id: str) -> list[dict[str, Any]]:
    require(principal, "apim:subscription_view", "apim:subscription_block")
    api = _publisher_api(db, principal, api_id)
    _, rows = sub_repository.list_in_tenant(
        db, principal.tenant_id, api_id=api.id, limit=PORTAL_LIST_LIMIT, offset=0
    )
    return [
        {
            "subscriptionId": sub.id,
            "applicationInfo": {
                "applicationId": sub.application_id,
                "name": app_name,
                "subscriber": qualified_username(owner or "", domain or ""),
            },
            "throttlingPolicy": policy_name,
            "subscriptionStatus": sub.status,
            "statusReason": sub.status_reason,
        }
        for sub, policy_name, app_name, owner, domain in rows
    ]


def set_subscription_block(
    db: Session, principal: Principal, api_id: str, subscription_id: str, state: str
) -> str:
    """Block (BLOCKED, PROD_ONLY_BLOCKED) or unblock (UNBLOCKED) a subscription to this API, as the
    REST block-subscription / unblock-subscription calls do; answers the new status."""
    require(principal, "apim:subscription_block")
    api = _publisher_api(db, principal, api_id)
    subscription = sub_service.get_in_tenant(db, principal.tenant_id, checked_id(subscription_id))
    if subscription.api_id != api.id:
        raise NotFound(f"subscription {subscription_id!r} not found")
    if state == sub_service.UNBLOCKED:
        sub_service.unblock(db, subscription)
    elif state in (sub_service.BLOCKED, sub_service.PROD_ONLY_BLOCKED):
        sub_service.block(db, subscription, state)
    else:
        raise BadRequest("'state': choose BLOCKED, PROD_ONLY_BLOCKED or UNBLOCKED")
    return subscription.status


def publisher_invoice(
    db: Session, runtime: Runtime, principal: Principal, api_id: str, subscription_id: str
) -> dict[str, Any] | None:
    """The current invoice of a subscription to this API (None when the subscription is not billed)."""
    require(principal, "apim:subscription_view")
    api = _publisher_api(db, principal, api_id)
    sub = sub_service.get_in_tenant(db, principal.tenant_id, checked_id(subscription_id))
    if sub.api_id != api.id:
        raise NotFound("subscription not found")
    return invoice_or_none(db, runtime, sub.id)


def api_revenue(db: Session, runtime: Runtime, principal: Principal, api_id: str) -> dict[str, Any]:
    """Revenue per subscription (labelled by application and subscriber) and its total."""
    api = _publisher_api(db, principal, api_id)
    properties = invoices.api_revenue(MonetizationService(runtime), db, api)
    labels = {s["subscriptionId"]: s for s in api_subscriptions(db, principal, api_id)}
    currency = properties.get("currency", "")
    rows = []
    for key, amount in properties.items():
        if key == "currency" or key.startswith("total"):
            continue
        sub = labels.get(key)
        label = (
            f"{sub['applicationInfo']['name']} ({sub['applicationInfo']['subscriber']})"
            if sub
            else "Removed subscription"
        )
        rows.append((label, amount))
    totals = [(k, v) for k, v in properties.items() if k.startswith("total")]
    return {"rows": rows, "currency": currency, "total": properties.get("total", ""), "totals": totals}
