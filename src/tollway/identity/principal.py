"""Who is calling a REST API: resolved from the bearer token, checked for scopes.

Endpoints declare ``caller: Annotated[Principal, Depends(requires("apim:api_view"))]``.
No token, or an expired/revoked one -> 401; a valid token without the scope -> 403.

A token's scopes are cut down to what the user's current roles allow, so taking a role away
takes effect at once, not when the user's tokens expire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from tollway.errors import Forbidden, Unauthorized
from tollway.identity.roles import allowed_scopes
from tollway.identity.tokens import find_active_token
from tollway.models import DEFAULT_TENANT, Tenant, User
from tollway.rest.deps import DbSession

# The scope a token gets when none of the requested ones is granted (WSO2's name).
DEFAULT_SCOPE = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    tenant_domain: str
    user_id: str | None
    username: str  # "name" in the default tenant, "name@domain" elsewhere
    roles: frozenset[str]
    scopes: frozenset[str]
    client_pk: str
    application_id: str | None

    @property
    def is_default_tenant(self) -> bool:
        return self.tenant_domain == DEFAULT_TENANT


def qualified_username(local_name: str, tenant_domain: str) -> str:
    return local_name if tenant_domain == DEFAULT_TENANT else f"{local_name}@{tenant_domain}"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def resolve_principal(session: Session, token: str) -> Principal | None:
    row = find_active_token(session, token)
    if row is None:
        return None
    tenant = session.get(Tenant, row.tenant_id)
    if tenant is None or not tenant.active:
        return None
    user = session.get(User, row.user_id) if row.user_id else None
    if row.user_id and (user is None or not user.active):
        return None
    scopes = frozenset(row.scopes.split())
    if user is not None:
        scopes &= user_scopes(user, tenant)
    return Principal(
        tenant_id=tenant.id,
        tenant_domain=tenant.domain,
        user_id=user.id if user else None,
        username=qualified_username(user.username, tenant.domain) if user else "",
        roles=frozenset(user.role_names) if user else frozenset(),
        scopes=scopes,
        client_pk=row.client_pk,
        application_id=row.application_id,
    )


def user_scopes(user: User, tenant: Tenant) -> frozenset[str]:
    """Every scope the user's roles allow, plus ``default``."""
    allowed = allowed_scopes(user.role_names, default_tenant=tenant.domain == DEFAULT_TENANT)
    return allowed | {DEFAULT_SCOPE}


def user_principal(user: User) -> Principal:
    """The caller signed in with a password (HTTP Basic) rather than a token: all their scopes."""
    return Principal(
        tenant_id=user.tenant.id,
        tenant_domain=user.tenant.domain,
        user_id=user.id,
        username=qualified_username(user.username, user.tenant.domain),
        roles=frozenset(user.role_names),
        scopes=user_scopes(user, user.tenant),
        client_pk="",
        application_id=None,
    )


def check_scopes(principal: Principal, *needed: str, refusal: str | None = None) -> None:
    """403 unless the caller holds one of ``needed`` (any scope will do when none is named)."""
    if needed and not principal.scopes.intersection(needed):
        raise Forbidden(refusal or f"the access token lacks the scope {' or '.join(needed)}")


# Attribute set on scope-checking dependencies so the OpenAPI documents can list the scopes.
SCOPES_ATTRIBUTE = "tollway_scopes"


def requires(*needed: str) -> Callable[..., Principal]:
    """The caller, who must hold one of ``needed`` (401 without a valid token, 403 without the scope)."""

    def dependency(request: Request, session: DbSession) -> Principal:
        token = bearer_token(request)
        if token is None:
            raise Unauthorized("missing bearer token in the Authorization header")
        principal = resolve_principal(session, token)
        if principal is None:
            raise Unauthorized("the access token is invalid, expired or revoked")
        check_scopes(principal, *needed)
        return principal

    setattr(dependency, SCOPES_ATTRIBUTE, needed)
    return dependency


def optional_principal(request: Request, session: DbSession) -> Principal | None:
    """The caller when a bearer token is sent (an invalid one is still a 401), else None."""
    token = bearer_token(request)
    if token is None:
        if request.headers.get("authorization"):
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return None
    principal = resolve_principal(session, token)
    if principal is None:
        raise Unauthorized("the access token is invalid, expired or revoked")
    return principal


setattr(optional_principal, SCOPES_ATTRIBUTE, ())
