"""Identity endpoints: client registration, OAuth2 token and revocation.

/oauth2/token and /oauth2/revoke answer errors in RFC 6749 5.2 shape. They return the error
response rather than raise it, so the transaction still commits: the only write on an error
path is the revocation of a grant whose refresh token was reused, and that must stick.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from tollway.identity import oauth
from tollway.identity.http_basic import BASIC_REALM, MalformedBasic, basic_credentials
from tollway.identity.registration import register_client
from tollway.identity.schemas import OAuthErrorBody, RegistrationRequest, RegistrationResponse, TokenResponse
from tollway.identity.users import authenticate
from tollway.models import User
from tollway.rest.deps import CurrentRuntime, DbSession
from tollway.rest.schemas import ErrorBody

router = APIRouter(tags=["identity"])


async def raw_body(request: Request) -> bytes:
    return await request.body()


# Bodies parsed by hand, so errors are answered in the protocol's own shape (RFC 6749, SCIM).
RawBody = Annotated[bytes, Depends(raw_body)]


def basic_user(request: Request, session: Session) -> User | None:
    """The user whose name and password are in an HTTP Basic header; None without such a header."""
    try:
        credentials = basic_credentials(request.headers.get("authorization"))
    except MalformedBasic as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": BASIC_REALM}) from None
    if credentials is None:
        return None
    user = authenticate(session, *credentials)
    if user is None:
        raise HTTPException(401, "wrong user name or password", headers={"WWW-Authenticate": BASIC_REALM})
    return user


def _form_body(
    fields: dict[str, str], required: tuple[str, ...], enums: dict[str, tuple[str, ...]]
) -> dict[str, Any]:
    """OpenAPI for a form body we parse ourselves (to answer errors in RFC 6749 shape)."""
    properties: dict[str, Any] = {
        name: {"type": "string", "description": text} for name, text in fields.items()
    }
    for name, values in enums.items():
        properties[name]["enum"] = list(values)
    schema = {"type": "object", "properties": properties, "required": list(required)}
    return {"requestBody": {"required": True, "content": {oauth.FORM_CONTENT_TYPE: {"schema": schema}}}}


_CLIENT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthErrorBody, "description": "RFC 6749 5.2 error"},
    401: {"model": OAuthErrorBody, "description": "invalid_client"},
}
_REGISTRATION_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "Bad request: the description names the field",
        401: "No, malformed or wrong HTTP Basic credentials of a user",
        403: "Only an admin may register a client for another user",
        409: "The same client is being registered by another request",
    }.items()
}


@router.post(
    "/client-registration/v0.17/register",
    response_model=RegistrationResponse,
    responses=_REGISTRATION_ERRORS,
    summary="Register an OAuth2 client (HTTP Basic with a user's name and password)",
)
def register(
    request: Request, body: RegistrationRequest, session: DbSession, runtime: CurrentRuntime
) -> RegistrationResponse:
    caller = basic_user(request, session)
    if caller is None:
        raise HTTPException(
            401, "HTTP Basic credentials of a user are required", headers={"WWW-Authenticate": BASIC_REALM}
        )
    return register_client(session, runtime.secrets, caller, body)


@router.post(
    "/oauth2/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses=_CLIENT_ERRORS,
    summary="Issue tokens: password, client_credentials or refresh_token grant",
    openapi_extra=_form_body(
        {
            "grant_type": "password | client_credentials | refresh_token",
            "username": "password grant: 'name', or 'name@tenant.domain'",
            "password": "password grant",
            "refresh_token": "refresh_token grant",
            "scope": "space-separated scopes",
            "client_id": "when not using HTTP Basic",
            "client_secret": "when not using HTTP Basic",
        },
        required=("grant_type",),
        enums={"grant_type": oauth.SUPPORTED_GRANTS},
    ),
)
def token(request: Request, body: RawBody, session: DbSession, runtime: CurrentRuntime) -> Response:
    try:
        form = oauth.parse_form(request.headers.get("content-type"), body)
        client = oauth.authenticate_client_request(session, request.headers.get("authorization"), form)
        issued = oauth.exchange(session, runtime.settings.server, client, form)
    except oauth.OAuthError as exc:
        return exc.response()
    return JSONResponse(issued.as_oauth_response(), headers=oauth.NO_STORE)


@router.post(
    "/oauth2/revoke",
    status_code=200,
    response_class=Response,
    responses={200: {"description": "revoked, or unknown (RFC 7009 2.2)"}, **_CLIENT_ERRORS},
    summary="Revoke an access or refresh token (RFC 7009)",
    openapi_extra=_form_body(
        {
            "token": "the token to revoke",
            "token_type_hint": "access_token | refresh_token (optional)",
            "client_id": "when not using HTTP Basic",
            "client_secret": "when not using HTTP Basic",
        },
        required=("token",),
        enums={},
    ),
)
def revoke(request: Request, body: RawBody, session: DbSession) -> Response:
    try:
        form = oauth.parse_form(request.headers.get("content-type"), body)
        client = oauth.authenticate_client_request(session, request.headers.get("authorization"), form)
        oauth.revoke(session, client, form)
    except oauth.OAuthError as exc:
        return exc.response()
    return Response(status_code=200, headers=oauth.NO_STORE)
