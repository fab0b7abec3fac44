"""/scim2/Users: user provisioning for a tenant's admin (RFC 7644).

The caller is an admin of the tenant, by a bearer token with scope ``apim:admin`` or by HTTP
Basic with an admin's name and password (as WSO2 allows). Users are those of the caller's
tenant only; another tenant's user ids answer 404. Errors are SCIM error messages; on error the
request's transaction is rolled back before the answer is made.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ParamSpec

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.orm import Session

from tollway.db.base import utcnow
from tollway.errors import BadRequest, TollwayError
from tollway.identity import repository, scim
from tollway.identity.http_basic import BASIC_REALM, MalformedBasic, basic_credentials
from tollway.identity.oauth_endpoints import RawBody
from tollway.identity.principal import Principal, bearer_token, resolve_principal, user_principal
from tollway.identity.roles import ROLE_ADMIN
from tollway.identity.users import (
    Profile,
    check_password,
    check_roles,
    create_user,
    delete_user,
    local_username,
    set_active,
    set_password,
    set_roles,
)
from tollway.identity.users import authenticate as authenticate_user
from tollway.models import User
from tollway.rest.bodies import BadJsonBody
from tollway.rest.deps import DbSession
from tollway.rest.schemas import MAX_INT

P = ParamSpec("P")
ADMIN_SCOPE = "apim:admin"
MAX_PAGE = 500
_CREDENTIALS_NEEDED = (
    "a bearer token with scope apim:admin, or an admin's HTTP Basic credentials, is required"
)
_CHALLENGE = {"WWW-Authenticate": f'Bearer realm="Tollway", {BASIC_REALM}'}
# Read as text and parsed here, so that a bad one is answered as a SCIM error.
_INTEGER = {"pattern": r"^-?[0-9]+$", "description": "an integer"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": scim.ErrorOut, "description": text}
    for code, text in {
        400: "invalid request (scimType names why)",
        401: "no or bad credentials",
        403: "not an admin",
        404: "no such user in the caller's tenant",
        409: "userName taken (scimType uniqueness), or the user owns applications",
    }.items()
}


class ScimRoute(APIRoute):
    """A JSON body refused while it is read (tollway.rest.bodies.JsonBodyCheck, before any
    endpoint code runs) is answered as a SCIM error message too."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scim_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except BadJsonBody as exc:
                return scim.refused_body(exc.refused).response()

        return scim_handler


router = APIRouter(
    prefix="/scim2", tags=["scim2"], route_class=ScimRoute, default_response_class=scim.ScimJSONResponse
)


def scim_errors(endpoint: Callable[P, Response]) -> Callable[P, Response]:
    """Answer domain and SCIM errors as SCIM error messages, after rolling the transaction back."""

    @functools.wraps(endpoint)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return endpoint(*args, **kwargs)
        except (scim.ScimError, TollwayError) as exc:
            session = kwargs["session"]
            assert isinstance(session, Session)
            session.rollback()
            session.info.pop("post_commit", None)  # queued side effects die with the rollback
            error = exc if isinstance(exc, scim.ScimError) else scim.ScimError.from_tollway(exc)
            return error.response()

    return wrapper


def scim_admin(request: Request, session: Session) -> Principal:
    token = bearer_token(request)
    if token is not None:
        principal = resolve_principal(session, token)
        if principal is None:
            raise scim.ScimError(401, "the access token is invalid, expired or revoked", headers=_CHALLENGE)
    else:
        try:
            credentials = basic_credentials(request.headers.get("authorization"))
        except MalformedBasic as exc:
            raise scim.ScimError(401, str(exc), headers=_CHALLENGE) from None
        if credentials is None:
            raise scim.ScimError(401, _CREDENTIALS_NEEDED, headers=_CHALLENGE)
        user = authenticate_user(session, *credentials)
        if user is None:
            raise scim.ScimError(401, "wrong user name or password", headers=_CHALLENGE)
        principal = user_principal(user)
    if ADMIN_SCOPE not in principal.scopes:
        raise scim.ScimError(403, "managing users needs scope apim:admin")
    return principal


def _user(session: Session, principal: Principal, user_id: str) -> User:
    user = repository.user_by_id(session, principal.tenant_id, user_id)
    if user is None:
        raise scim.ScimError(404, f"no user with id '{user_id}'")
    return user


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body parsed by hand (to answer errors in SCIM shape); nested models inlined."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    content = {"schema": inline(schema)}
    return {
        "requestBody": {
            "required": True,
            "content": {scim.SCIM_MEDIA_TYPE: content, "application/json": content},
        }
    }


@router.post(
    "/Users",
    status_code=201,
    response_model=scim.UserOut,
    responses=_ERRORS,
    openapi_extra=_body_doc(scim.UserIn),
)
@scim_errors
def create(request: Request, body: RawBody, session: DbSession) -> Response:
    principal = scim_admin(request, session)
    data = scim.json_object(body)
    for read_only in ("id", "meta"):  # ignored on create (RFC 7644 3.3)
        data.pop(read_only, None)
    new = scim.parse(scim.UserIn, data, scim.USER_SCHEMA)
    check_password(new.password, "password")
    user = create_user(
        session,
        principal.tenant_id,
        username=local_username(new.userName, principal.tenant_domain, "userName"),
        password=new.password,
        roles=check_roles([role.value for role in new.roles], "roles"),
        profile=Profile(
            email=scim.single_email(new.emails),
            given_name=new.name.givenName if new.name else None,
            family_name=new.name.familyName if new.name else None,
        ),
        active=new.active,
    )
    resource = scim.user_resource(user, principal.tenant_domain, _base_url(request))
    return scim.scim_json(resource, 201, headers={"Location": resource.meta.location})


@router.get("/Users", response_model=scim.ListResponseOut, responses=_ERRORS)
@scim_errors
def search(
    request: Request,
    session: DbSession,
    filter: Annotated[str | None, Query(description='userName eq "name"')] = None,
    startIndex: Annotated[str, Query(json_schema_extra=_INTEGER)] = "1",
    count: Annotated[str, Query(json_schema_extra=_INTEGER)] = "100",
) -> Response:
    principal = scim_admin(request, session)
    start, size = _integer(startIndex, "startIndex"), _integer(count, "count")
    start, size = max(start, 1), min(max(size, 0), MAX_PAGE)  # RFC 7644 3.4.2.4
    username = scim.filtered_username(filter, principal.tenant_domain)
    # Past MAX_INT no tenant has users, and a larger OFFSET overflows the database's integer.
    offset = min(start - 1, MAX_INT)
    total, users = repository.list_users(
        session, principal.tenant_id, username=username, offset=offset, limit=size
    )
    base = _base_url(request)
    return scim.scim_json(
        scim.ListResponseOut(
            totalResults=total,
            startIndex=start,
            itemsPerPage=len(users),
            Resources=[scim.user_resource(user, principal.tenant_domain, base) for user in users],
        )
    )


@router.get("/Users/{user_id}", response_model=scim.UserOut, responses=_ERRORS)
@scim_errors
def read(request: Request, user_id: str, session: DbSession) -> Response:
    principal = scim_admin(request, session)
    user = _user(session, principal, user_id)
    return scim.scim_json(scim.user_resource(user, principal.tenant_domain, _base_url(request)))


@router.patch(
    "/Users/{user_id}", response_model=scim.UserOut, responses=_ERRORS, openapi_extra=_body_doc(scim.PatchIn)
)
@scim_errors
def patch(request: Request, user_id: str, body: RawBody, session: DbSession) -> Response:
    principal = scim_admin(request, session)
    user = _user(session, principal, user_id)
    draft = scim.UserDraft.of(user)
    scim.apply_patch(draft, scim.parse(scim.PatchIn, scim.json_object(body), scim.PATCH_SCHEMA))
    if user.id == principal.user_id:
        # An admin cannot lock themselves (and perhaps the whole tenant) out.
        if not draft.active:
            raise BadRequest("you cannot deactivate your own account")
        if ROLE_ADMIN in user.role_names and ROLE_ADMIN not in draft.roles:
            raise BadRequest("you cannot remove the admin role from your own account")
    if draft.password is not None:
        set_password(user, draft.password)
    user.given_name, user.family_name, user.email = draft.given_name, draft.family_name, draft.email
    set_roles(user, draft.roles)
    set_active(session, user, draft.active)
    user.updated_at = utcnow()
    session.flush()
    return scim.scim_json(scim.user_resource(user, principal.tenant_domain, _base_url(request)))


@router.delete("/Users/{user_id}", status_code=204, responses=_ERRORS)
@scim_errors
def delete(request: Request, user_id: str, session: DbSession) -> Response:
    principal = scim_admin(request, session)
    user = _user(session, principal, user_id)
    if user.id == principal.user_id:
        raise BadRequest("you cannot delete your own account")
    delete_user(session, user)
    return Response(status_code=204)


def _integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise scim.ScimError(400, f"'{name}' must be an integer", "invalidValue") from None
