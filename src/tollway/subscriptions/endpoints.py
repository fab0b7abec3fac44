"""Developer portal /subscriptions (a subscriber's own) and publisher /subscriptions (the tenant's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from tollway.apis import repository as apis
from tollway.applications import repository as applications
from tollway.applications.service import owner_id
from tollway.errors import NotFound
from tollway.identity.principal import Principal, qualified_username, requires
from tollway.models import Subscription
from tollway.rest.deps import CurrentRuntime, DbSession, Hooks
from tollway.rest.pagination import Page, page
from tollway.rest.prefixes import PUBLISHER, STORE
from tollway.rest.responses import ERRORS
from tollway.rest.schemas import canonical_choice, clean_query
from tollway.subscriptions import repository, service
from tollway.subscriptions.schemas import (
    BLOCK_STATES,
    ApplicationInfo,
    PublisherSubscription,
    PublisherSubscriptionList,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
)

store_router = APIRouter(prefix=STORE + "/subscriptions", tags=["Subscriptions"], responses=ERRORS)
publisher_router = APIRouter(prefix=PUBLISHER + "/subscriptions", tags=["Subscriptions"], responses=ERRORS)

Subscriber = Annotated[Principal, Depends(requires("apim:subscribe", "apim:sub_manage"))]
Viewer = Annotated[Principal, Depends(requires("apim:subscription_view", "apim:subscription_block"))]
Blocker = Annotated[Principal, Depends(requires("apim:subscription_block"))]
Paging = Annotated[Page, Depends(page)]
IdQuery = Annotated[str | None, Query(max_length=64)]


def subscription_out(subscription: Subscription, policy_name: str) -> SubscriptionOut:
    return SubscriptionOut(
        subscriptionId=subscription.id,
        applicationId=subscription.application_id,
        apiId=subscription.api_id,
        throttlingPolicy=policy_name,
        status=subscription.status,
    )


@store_router.get("", response_model=SubscriptionList, summary="Your subscriptions")
def list_subscriptions(
    session: DbSession,
    caller: Subscriber,
    paging: Paging,
    applicationId: IdQuery = None,
    apiId: IdQuery = None,
) -> SubscriptionList:
    application_id = clean_query(applicationId, "applicationId", max_length=64)
    api_id = clean_query(apiId, "apiId", max_length=64)
    if (
        application_id is not None
        and applications.get_owned(session, caller.tenant_id, owner_id(caller), application_id) is None
    ):
        raise NotFound(f"application {application_id!r} not found")
    total, rows = repository.list_owned(
        session,
        caller.tenant_id,
        owner_id(caller),
        application_id=application_id,
        api_id=api_id,
        limit=paging.limit,
        offset=paging.offset,
    )
    items = [subscription_out(row[0], row[1]) for row in rows]
    return SubscriptionList(
        count=len(items),
        list=items,
        pagination=paging.pagination(total, applicationId=application_id, apiId=api_id),
    )


@store_router.post(
    "", response_model=SubscriptionOut, status_code=201, summary="Subscribe an application to an API"
)
def subscribe(
    body: SubscriptionIn,
    session: DbSession,
    hooks: Hooks,
    runtime: CurrentRuntime,
    caller: Subscriber,
    response: Response,
) -> SubscriptionOut:
    subscription = service.subscribe(session, hooks, runtime.settings, caller, body)
    response.headers["Location"] = f"{STORE}/subscriptions/{subscription.id}"
    return subscription_out(subscription, body.throttlingPolicy)


@store_router.get("/{subscriptionId}", response_model=SubscriptionOut, summary="One of your subscriptions")
def get_subscription(subscriptionId: str, session: DbSession, caller: Subscriber) -> SubscriptionOut:
    subscription = service.get_owned(session, caller, subscriptionId)
    return subscription_out(subscription, repository.policy_name(session, subscription.policy_id))


@store_router.delete(
    "/{subscriptionId}",
    status_code=200,
    response_class=Response,
    responses={202: {"description": "Removal awaits approval (DELETE_PENDING)"}},
    summary="Unsubscribe",
)
def unsubscribe(
    subscriptionId: str, session: DbSession, hooks: Hooks, runtime: CurrentRuntime, caller: Subscriber
) -> Response:
    subscription = service.get_owned(session, caller, subscriptionId)
    removed = service.unsubscribe(session, hooks, runtime.settings, subscription, caller)
    return Response(status_code=200 if removed else 202)


# Publisher


def _publisher_item(row: Any) -> PublisherSubscription:
    subscription, policy_name, app_name, owner, domain = row
    return PublisherSubscription(
        subscriptionId=subscription.id,
        applicationInfo=ApplicationInfo(
            applicationId=subscription.application_id,
            name=app_name,
            subscriber=qualified_username(owner or "", domain or ""),
        ),
        throttlingPolicy=policy_name,
        subscriptionStatus=subscription.status,
    )


def _one(session: Session, tenant_id: str, subscription: Subscription) -> PublisherSubscription:
    _, rows = repository.list_in_tenant(
        session, tenant_id, subscription_id=subscription.id, limit=1, offset=0
    )
    return _publisher_item(rows[0])


@publisher_router.get(
    "", response_model=PublisherSubscriptionList, summary="Subscriptions to the tenant's APIs"
)
def list_api_subscriptions(
    session: DbSession, caller: Viewer, paging: Paging, apiId: IdQuery = None
) -> PublisherSubscriptionList:
    api_id = clean_query(apiId, "apiId", max_length=64)
    if api_id is not None and apis.get_api(session, caller.tenant_id, api_id) is None:
        raise NotFound(f"API {api_id!r} not found")
    total, rows = repository.list_in_tenant(
        session, caller.tenant_id, api_id=api_id, limit=paging.limit, offset=paging.offset
    )
    items = [_publisher_item(row) for row in rows]
    return PublisherSubscriptionList(
        count=len(items), list=items, pagination=paging.pagination(total, apiId=api_id)
    )


@publisher_router.post(
    "/block-subscription", response_model=PublisherSubscription, summary="Block a subscription"
)
def block_subscription(
    session: DbSession,
    caller: Blocker,
    subscriptionId: Annotated[str, Query(max_length=64)],
    blockState: Annotated[
        str,
        Query(max_length=32, description="case-insensitive", json_schema_extra={"enum": list(BLOCK_STATES)}),
    ],
) -> PublisherSubscription:
    state = canonical_choice(blockState, BLOCK_STATES, "blockState")
    subscription = service.get_in_tenant(session, caller.tenant_id, subscriptionId)
    service.block(session, subscription, state)
    return _one(session, caller.tenant_id, subscription)


@publisher_router.post(
    "/unblock-subscription", response_model=PublisherSubscription, summary="Unblock a subscription"
)
def unblock_subscription(
    session: DbSession, caller: Blocker, subscriptionId: Annotated[str, Query(max_length=64)]
) -> PublisherSubscription:
    subscription = service.get_in_tenant(session, caller.tenant_id, subscriptionId)
    service.unblock(session, subscription)
    return _one(session, caller.tenant_id, subscription)
