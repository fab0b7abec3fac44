"""Publisher side of APIs: create, change, delete, lifecycle; read by the developer portal.

Every change that can alter what the gateway serves calls ``mark_gateway_config_changed`` in the
same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from tollway.apis import lifecycle, repository
from tollway.apis.schemas import (
    ApiIn,
    ApiInfo,
    ApiOut,
    EndpointConfig,
    EndpointConfigOut,
    EndpointOut,
    LifecycleState,
    Transition,
)
from tollway.billing.hooks import MonetizationHooks
from tollway.db.base import utcnow
from tollway.db.integrity import flush_or_conflict
from tollway.errors import BadRequest, Conflict, NotFound
from tollway.identity.principal import Principal
from tollway.models import DEFAULT_TENANT, Api, ApiPolicy, SubscriptionPolicy
from tollway.models.changes import mark_gateway_config_changed
from tollway.policies.repository import list_policies, policies_by_name

_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
MAX_CONTEXT = 190


# The gateway answers its health probe under it (tollway.gateway.health).
RESERVED_SEGMENT = "_tollway"


def normalize_context(raw: str, tenant_domain: str) -> str:
    """``pizza/`` -> ``/pizza``; a tenant's own ``/t/{domain}`` prefix is dropped (it is implicit)."""
    segments = [s for s in raw.strip().strip("/").split("/")]
    if segments and segments[0] == "t":
        if tenant_domain != DEFAULT_TENANT and segments[1:2] == [tenant_domain]:
            segments = segments[2:]
        else:
            raise BadRequest("'context': '/t/' starts a tenant's path and cannot begin a context")
    if not segments or segments == [""]:
        raise BadRequest("'context': must name at least one path segment, e.g. /pizza")
    if segments[0] == RESERVED_SEGMENT:
        raise BadRequest(f"'context': /{RESERVED_SEGMENT} is reserved for the gateway's own endpoints")
    for segment in segments:
        if "{" in segment:
            raise BadRequest(
                "'context': templates such as {version} are not supported; the version is appended"
            )
        if not _SEGMENT.match(segment) or segment in (".", ".."):
            raise BadRequest(
                f"'context': {segment!r} is not a valid path segment (letters, digits, '.', '_', '~', '-')"
            )
    context = "/" + "/".join(segments)
    if len(context) > MAX_CONTEXT:
        raise BadRequest(f"'context': must be at most {MAX_CONTEXT} characters")
    return context


def _check_url(url: str, field: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise BadRequest(f"'{field}': not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"'{field}': must be an absolute http:// or https:// URL")
    if any(char.isspace() for char in url):
        raise BadRequest(f"'{field}': must not contain spaces")
    return url


def endpoint_config(config: EndpointConfig | None) -> dict[str, Any]:
    if config is None:
        return {}
    stored: dict[str, Any] = {"endpoint_type": config.endpoint_type}
    for key in ("production_endpoints", "sandbox_endpoints"):
        endpoint = getattr(config, key)
        if endpoint is not None:
            stored[key] = {"url": _check_url(endpoint.url, f"endpointConfig.{key}.url")}
    return stored


def production_url(api: Api) -> str | None:
    endpoint = (api.endpoint_config or {}).get("production_endpoints")
    url = endpoint.get("url") if isinstance(endpoint, dict) else None
    return url if isinstance(url, str) and url else None


def _resolve_policies(session: Session, tenant_id: str, names: Sequence[str]) -> list[SubscriptionPolicy]:
    wanted = list(dict.fromkeys(names))  # keep the publisher's order, drop repeats
    found = policies_by_name(session, tenant_id, wanted)
    missing = [name for name in wanted if name not in found]
    if missing:
        known = ", ".join(p.name for p in list_policies(session, tenant_id))
        raise BadRequest(f"'policies': unknown subscription policy {missing[0]!r}; the tenant has: {known}")
    return [found[name] for name in wanted]


def _check_servable(api: Api, state: str) -> None:
    """A served API needs a production endpoint, and (unless a prototype) a plan to subscribe with."""
    if production_url(api) is None:
        raise BadRequest(f"'endpointConfig.production_endpoints': a {state} API needs a production endpoint")
    if state != lifecycle.PROTOTYPED and not api.policies:
        raise BadRequest(f"'policies': a {state} API needs at least one subscription policy")


def _apply(session: Session, api: Api, body: ApiIn, tenant_domain: str) -> None:
    """Check the body against the tenant (plans exist, name and context free), then copy it in."""
    policies = _resolve_policies(session, api.tenant_id, body.policies)
    context = normalize_context(body.context, tenant_domain)
    config = endpoint_config(body.endpointConfig)
    _check_unique(session, api, body.name, context, body.version)
    api.name = body.name
    api.context = context
    api.version = body.version
    api.description = body.description
    api.endpoint_config = config
    api.backend_timeout_ms = body.backendTimeoutMs
    # Keep the links that stay (their key is api+policy), drop the others, add the new ones.
    existing = {link.policy_id: link for link in api.policies}
    links = []
    for position, policy in enumerate(policies):
        link = existing.pop(policy.id, None) or ApiPolicy(policy_id=policy.id)
        link.position = position
        links.append(link)
    api.policies = links


def _check_unique(session: Session, api: Api, name: str, context: str, version: str) -> None:
    clash = repository.find_by_context(session, api.tenant_id, context, version)
    if clash is not None and clash.id != api.id:
        raise Conflict(f"an API with context {context!r} and version {version!r} already exists")
    clash = repository.find_by_name(session, api.tenant_id, name, version)
    if clash is not None and clash.id != api.id:
        raise Conflict(f"an API named {name!r} with version {version!r} already exists")


def get_api(session: Session, tenant_id: str, api_id: str) -> Api:
    api = repository.get_api(session, tenant_id, api_id)
    if api is None:
        raise NotFound(f"API {api_id!r} not found")
    return api


def create_api(session: Session, caller: Principal, body: ApiIn) -> Api:
    if body.provider is not None and body.provider != caller.username:
        raise BadRequest("'provider': an API is created with the caller as its provider")
    if body.lifeCycleStatus not in (None, lifecycle.CREATED):
        raise BadRequest("'lifeCycleStatus': a new API starts CREATED; use /apis/change-lifecycle")
    api = Api(
        tenant_id=caller.tenant_id,
        provider=caller.username,
        provider_id=caller.user_id,
        lifecycle_status=lifecycle.CREATED,
        policies=[],
    )
    _apply(session, api, body, caller.tenant_domain)
    session.add(api)
    flush_or_conflict(session, f"an API {api.name!r} {api.version!r} or its context already exists")
    mark_gateway_config_changed(session)
    return api


def update_api(session: Session, caller: Principal, api: Api, body: ApiIn) -> Api:
    if body.id is not None and body.id != api.id:
        raise BadRequest("'id': does not match the API in the path")
    if body.provider is not None and body.provider != api.provider:
        raise BadRequest("'provider': the provider of an API cannot be changed")
    if body.lifeCycleStatus is not None and body.lifeCycleStatus != api.lifecycle_status:
        raise BadRequest("'lifeCycleStatus': change it with POST /apis/change-lifecycle")
    _apply(session, api, body, caller.tenant_domain)
    if api.lifecycle_status in lifecycle.SERVED_STATES:
        _check_servable(api, api.lifecycle_status)
    api.updated_at = utcnow()
    flush_or_conflict(session, f"an API {api.name!r} {api.version!r} or its context already exists")
    mark_gateway_config_changed(session)
    return api


def delete_api(session: Session, hooks: MonetizationHooks, api: Api) -> None:
    subscriptions = repository.subscription_count(session, api.id)
    if subscriptions:
        raise Conflict(f"the API has {subscriptions} subscription(s); they must be removed first")
    hooks.api_deleting(session, api)
    session.delete(api)
    flush_or_conflict(session, "the API is in use")
    mark_gateway_config_changed(session)


def change_lifecycle(session: Session, api: Api, action_text: str) -> Api:
    action = lifecycle.parse_action(action_text)
    target = lifecycle.next_state(api.lifecycle_status, action)
    if target in (lifecycle.PUBLISHED, lifecycle.PROTOTYPED):
        _check_servable(api, target)
    api.lifecycle_status = target
    api.updated_at = utcnow()
    session.flush()
    mark_gateway_config_changed(session)
    return api


def list_apis(
    session: Session, tenant_id: str, *, query: str | None, limit: int, offset: int
) -> tuple[int, Sequence[Api]]:
    return repository.list_apis(session, tenant_id, query=query, limit=limit, offset=offset)


# The REST shapes of an API, shared by the endpoints and the portals.
def api_out(session: Session, api: Api) -> ApiOut:
    config = api.endpoint_config or {}

    def endpoint(key: str) -> EndpointOut | None:
        value = config.get(key)
        return EndpointOut(url=value["url"]) if isinstance(value, dict) and "url" in value else None

    return ApiOut(
        id=api.id,
        name=api.name,
        context=api.context,
        version=api.version,
        provider=api.provider,
        lifeCycleStatus=api.lifecycle_status,
        description=api.description,
        policies=[p.name for p in repository.policies_of(session, api)],
        endpointConfig=EndpointConfigOut(
            endpoint_type=str(config.get("endpoint_type", "http")),
            production_endpoints=endpoint("production_endpoints"),
            sandbox_endpoints=endpoint("sandbox_endpoints"),
        )
        if config
        else None,
        backendTimeoutMs=api.backend_timeout_ms,
    )


def api_info(api: Api) -> ApiInfo:
    return ApiInfo(
        id=api.id,
        name=api.name,
        context=api.context,
        version=api.version,
        provider=api.provider,
        lifeCycleStatus=api.lifecycle_status,
        description=api.description,
    )


def lifecycle_state(api: Api) -> LifecycleState:
    transitions = lifecycle.TRANSITIONS.get(api.lifecycle_status, {})
    return LifecycleState(
        state=api.lifecycle_status,
        availableTransitions=[
            Transition(event=event, targetState=target) for event, target in transitions.items()
        ],
    )
