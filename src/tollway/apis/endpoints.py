"""Publisher API (/apis, /apis/change-lifecycle, /settings) and the developer portal's catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from tollway.apis import catalog, lifecycle, service
from tollway.apis.schemas import (
    ApiIn,
    ApiList,
    ApiOut,
    LifecycleChange,
    LifecycleState,
    MonetizationAttribute,
    PublisherSettings,
    StoreApi,
    StoreApiList,
)
from tollway.billing.attributes import api_attributes
from tollway.identity.principal import Principal, optional_principal, requires
from tollway.identity.users import DOMAIN_SCHEMA
from tollway.rest.deps import CurrentRuntime, DbSession, Hooks
from tollway.rest.pagination import Page, page
from tollway.rest.prefixes import PUBLISHER, STORE
from tollway.rest.responses import ERRORS
from tollway.rest.schemas import QUERY_TEXT_SCHEMA, clean_query

publisher_router = APIRouter(prefix=PUBLISHER, tags=["APIs"], responses=ERRORS)
store_router = APIRouter(prefix=STORE, tags=["API catalog"], responses=ERRORS)

Viewer = Annotated[Principal, Depends(requires("apim:api_view", "apim:api_create", "apim:api_publish"))]
Creator = Annotated[Principal, Depends(requires("apim:api_create"))]
Publisher = Annotated[Principal, Depends(requires("apim:api_publish"))]
Paging = Annotated[Page, Depends(page)]
SearchQuery = Annotated[
    str | None,
    Query(
        description="name text, or field:value with name, context, version, provider, status",
        json_schema_extra=QUERY_TEXT_SCHEMA,
    ),
]


@publisher_router.get("/apis", response_model=ApiList, summary="List or search the tenant's APIs")
def list_apis(session: DbSession, caller: Viewer, paging: Paging, query: SearchQuery = None) -> ApiList:
    query = clean_query(query, "query")
    total, rows = service.list_apis(
        session, caller.tenant_id, query=query, limit=paging.limit, offset=paging.offset
    )
    items = [service.api_info(api) for api in rows]
    return ApiList(count=len(items), list=items, pagination=paging.pagination(total, query=query))


@publisher_router.post("/apis", response_model=ApiOut, status_code=201, summary="Create an API")
def create_api(body: ApiIn, session: DbSession, caller: Creator, response: Response) -> ApiOut:
    api = service.create_api(session, caller, body)
    response.headers["Location"] = f"{PUBLISHER}/apis/{api.id}"
    return service.api_out(session, api)


@publisher_router.post(
    "/apis/change-lifecycle", response_model=LifecycleChange, summary="Change the lifecycle state of an API"
)
def change_lifecycle(
    session: DbSession,
    caller: Publisher,
    apiId: Annotated[str, Query(max_length=64)],
    action: Annotated[
        str,
        Query(
            max_length=64, description="case-insensitive", json_schema_extra={"enum": list(lifecycle.ACTIONS)}
        ),
    ],
    lifecycleChecklist: Annotated[str | None, Query(max_length=1024)] = None,
) -> LifecycleChange:
    clean_query(action, "action")
    clean_query(lifecycleChecklist, "lifecycleChecklist", max_length=1024)
    api = service.get_api(session, caller.tenant_id, apiId)
    service.change_lifecycle(session, api, action)
    return LifecycleChange(lifecycleState=service.lifecycle_state(api))


@publisher_router.get("/apis/{apiId}", response_model=ApiOut, summary="Get an API")
def get_api(apiId: str, session: DbSession, caller: Viewer) -> ApiOut:
    return service.api_out(session, service.get_api(session, caller.tenant_id, apiId))


@publisher_router.put("/apis/{apiId}", response_model=ApiOut, summary="Replace an API")
def update_api(apiId: str, body: ApiIn, session: DbSession, caller: Creator) -> ApiOut:
    api = service.get_api(session, caller.tenant_id, apiId)
    return service.api_out(session, service.update_api(session, caller, api, body))


@publisher_router.delete("/apis/{apiId}", status_code=200, response_class=Response, summary="Delete an API")
def delete_api(apiId: str, session: DbSession, hooks: Hooks, caller: Creator) -> Response:
    service.delete_api(session, hooks, service.get_api(session, caller.tenant_id, apiId))
    return Response(status_code=200)


@publisher_router.get(
    "/apis/{apiId}/lifecycle-state", response_model=LifecycleState, summary="Lifecycle state"
)
def get_lifecycle_state(apiId: str, session: DbSession, caller: Viewer) -> LifecycleState:
    return service.lifecycle_state(service.get_api(session, caller.tenant_id, apiId))


@publisher_router.get("/settings", response_model=PublisherSettings, summary="Publisher settings")
def get_settings(runtime: CurrentRuntime, caller: Viewer) -> PublisherSettings:
    return PublisherSettings(
        monetizationAttributes=[
            MonetizationAttribute(
                name=a.name, displayName=a.display_name, required=a.required, description=a.description
            )
            for a in api_attributes(runtime.billing, runtime.settings)
        ]
    )


# Developer portal catalog

Anyone = Annotated[Principal | None, Depends(optional_principal)]
TenantHeader = Annotated[
    str | None,
    Header(
        alias="X-WSO2-Tenant", description="tenant whose catalog to show", json_schema_extra=DOMAIN_SCHEMA
    ),
]
TenantQuery = Annotated[
    str | None, Query(description="tenant whose catalog to show", json_schema_extra=DOMAIN_SCHEMA)
]


@store_router.get("/apis", response_model=StoreApiList, summary="List the published APIs of a tenant")
def list_catalog(
    session: DbSession,
    caller: Anyone,
    paging: Paging,
    query: SearchQuery = None,
    x_wso2_tenant: TenantHeader = None,
    tenantDomain: TenantQuery = None,
) -> StoreApiList:
    tenant = catalog.catalog_tenant(session, caller, x_wso2_tenant, tenantDomain)
    query = clean_query(query, "query")
    total, rows = catalog.list_catalog(
        session, tenant.id, query=query, limit=paging.limit, offset=paging.offset
    )
    items = [catalog.store_api_out(session, api) for api in rows]
    return StoreApiList(
        count=len(items),
        list=items,
        pagination=paging.pagination(total, query=query, tenantDomain=tenantDomain),
    )


@store_router.get("/apis/{apiId}", response_model=StoreApi, summary="Get a published API with its plans")
def get_catalog_api(
    apiId: str,
    session: DbSession,
    caller: Anyone,
    x_wso2_tenant: TenantHeader = None,
    tenantDomain: TenantQuery = None,
) -> StoreApi:
    tenant = catalog.catalog_tenant(session, caller, x_wso2_tenant, tenantDomain)
    return catalog.store_api_out(session, catalog.catalog_api(session, tenant.id, apiId))
