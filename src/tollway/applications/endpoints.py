"""Developer portal API: /applications and their keys, tokens and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from tollway.applications import credentials, repository, service
from tollway.applications.schemas import (
    KEY_TYPES,
    ApiKeyGenerateIn,
    ApiKeyOut,
    ApiKeyRevokeIn,
    ApplicationIn,
    ApplicationKeyList,
    ApplicationKeyOut,
    ApplicationList,
    ApplicationOut,
    KeyGenerateIn,
    TokenGenerateIn,
    TokenOut,
)
from tollway.identity.principal import Principal, requires
from tollway.rest.deps import CurrentRuntime, DbSession, Hooks
from tollway.rest.pagination import Page, page
from tollway.rest.prefixes import STORE
from tollway.rest.responses import ERRORS
from tollway.rest.schemas import QUERY_TEXT_SCHEMA, canonical_choice, clean_query

router = APIRouter(prefix=STORE + "/applications", tags=["Applications"], responses=ERRORS)

Caller = Annotated[Principal, Depends(requires("apim:subscribe", "apim:app_manage"))]
Paging = Annotated[Page, Depends(page)]
KeyTypePath = Annotated[
    str, Path(max_length=32, description="case-insensitive", json_schema_extra={"enum": list(KEY_TYPES)})
]


def _key_type(value: str) -> str:
    return canonical_choice(value, KEY_TYPES, "keyType")


@router.get("", response_model=ApplicationList, summary="List your applications")
def list_applications(
    session: DbSession,
    caller: Caller,
    paging: Paging,
    query: Annotated[str | None, Query(json_schema_extra=QUERY_TEXT_SCHEMA)] = None,
) -> ApplicationList:
    query = clean_query(query, "query")
    total, rows = service.list_applications(
        session, caller, query=query, limit=paging.limit, offset=paging.offset
    )
    counts = repository.subscription_counts(session, [app.id for app in rows])
    items = [service.application_out(app, caller.username, counts.get(app.id, 0)) for app in rows]
    return ApplicationList(count=len(items), list=items, pagination=paging.pagination(total, query=query))


@router.post("", response_model=ApplicationOut, status_code=201, summary="Create an application")
def create_application(
    body: ApplicationIn, session: DbSession, runtime: CurrentRuntime, caller: Caller, response: Response
) -> ApplicationOut:
    app = service.create_application(session, runtime.settings, caller, body)
    response.headers["Location"] = f"{STORE}/applications/{app.id}"
    return service.application_out(app, caller.username, 0)


@router.get("/{applicationId}", response_model=ApplicationOut, summary="Get one of your applications")
def get_application(applicationId: str, session: DbSession, caller: Caller) -> ApplicationOut:
    app = service.get_application(session, caller, applicationId)
    count = repository.subscription_counts(session, [app.id]).get(app.id, 0)
    return service.application_out(app, caller.username, count)


@router.put("/{applicationId}", response_model=ApplicationOut, summary="Replace one of your applications")
def update_application(
    applicationId: str, body: ApplicationIn, session: DbSession, caller: Caller
) -> ApplicationOut:
    app = service.update_application(
        session, caller, service.get_application(session, caller, applicationId), body
    )
    count = repository.subscription_counts(session, [app.id]).get(app.id, 0)
    return service.application_out(app, caller.username, count)


@router.delete("/{applicationId}", status_code=200, response_class=Response, summary="Delete an application")
def delete_application(applicationId: str, session: DbSession, hooks: Hooks, caller: Caller) -> Response:
    service.delete_application(session, hooks, service.get_application(session, caller, applicationId))
    return Response(status_code=200)


@router.post(
    "/{applicationId}/generate-keys",
    response_model=ApplicationKeyOut,
    summary="Generate the consumer key and secret",
)
def generate_keys(
    applicationId: str, body: KeyGenerateIn, session: DbSession, caller: Caller
) -> ApplicationKeyOut:
    app = service.get_application(session, caller, applicationId)
    return credentials.generate_keys(session, app, caller.username, body)


@router.get("/{applicationId}/keys", response_model=ApplicationKeyList, summary="The application's key pairs")
def list_keys(applicationId: str, session: DbSession, caller: Caller) -> ApplicationKeyList:
    keys = credentials.list_keys(session, service.get_application(session, caller, applicationId))
    return ApplicationKeyList(count=len(keys), list=keys)


@router.get("/{applicationId}/keys/{keyType}", response_model=ApplicationKeyOut, summary="One key pair")
def get_key(
    applicationId: str, keyType: KeyTypePath, session: DbSession, caller: Caller
) -> ApplicationKeyOut:
    app = service.get_application(session, caller, applicationId)
    return credentials.get_key(session, app, _key_type(keyType))


@router.post(
    "/{applicationId}/keys/{keyType}/generate-token", response_model=TokenOut, summary="A new access token"
)
def generate_token(
    applicationId: str, keyType: KeyTypePath, body: TokenGenerateIn, session: DbSession, caller: Caller
) -> TokenOut:
    app = service.get_application(session, caller, applicationId)
    return credentials.generate_token(session, app, _key_type(keyType), body)


@router.post(
    "/{applicationId}/api-keys/{keyType}/generate", response_model=ApiKeyOut, summary="A new API key"
)
def generate_api_key(
    applicationId: str,
    keyType: KeyTypePath,
    session: DbSession,
    caller: Caller,
    body: ApiKeyGenerateIn | None = None,
) -> ApiKeyOut:
    app = service.get_application(session, caller, applicationId)
    return credentials.generate_api_key(session, app, _key_type(keyType), body or ApiKeyGenerateIn())


@router.post(
    "/{applicationId}/api-keys/{keyType}/revoke",
    status_code=200,
    response_class=Response,
    summary="Revoke an API key",
)
def revoke_api_key(
    applicationId: str, keyType: KeyTypePath, body: ApiKeyRevokeIn, session: DbSession, caller: Caller
) -> Response:
    app = service.get_application(session, caller, applicationId)
    credentials.revoke_api_key(session, app, _key_type(keyType), body.apikey)
    return Response(status_code=200)
