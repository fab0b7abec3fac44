"""Request dependencies shared by the REST endpoints: the transaction, the caller, the runtime.

The session is function-scoped: FastAPI runs the exit code of request-scoped ``yield``
dependencies only after the response has been sent, which would let a client see 201 before the
row is committed (and never learn of a failed commit). Function scope commits before answering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tollway.app import get_runtime, get_session
from tollway.auth.principal import Principal, bearer_token, require_scopes, resolve_principal
from tollway.errors import Unauthorized
from tollway.monetization.hooks import MonetizationHooks
from tollway.runtime import Runtime

DbSession = Annotated[Session, Depends(get_session, scope="function")]
CurrentRuntime = Annotated[Runtime, Depends(get_runtime)]

# Attribute set on scope-checking dependencies so the OpenAPI documents can list the scopes.
SCOPES_ATTRIBUTE = "tollway_scopes"


def requires(*scopes: str) -> Callable[..., Principal]:
    """The caller, who must hold one of ``scopes`` (401 without a valid token, 403 without the scope)."""
    check = require_scopes(*scopes)

    def dependency(request: Request, session: DbSession) -> Principal:
        return check(request, session)

    setattr(dependency, SCOPES_ATTRIBUTE, scopes)
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


def get_hooks(runtime: CurrentRuntime) -> MonetizationHooks:
    return runtime.hooks


Hooks = Annotated[MonetizationHooks, Depends(get_hooks)]
