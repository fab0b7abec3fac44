"""Developer-portal self sign-up: WSO2's POST /api/identity/user/v1.0/me.

No authentication (it is how a developer gets an account). The tenant comes from the
``X-WSO2-Tenant`` header or ``?tenantDomain=`` (default ``carbon.super``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query

from tollway.errors import BadRequest
from tollway.identity.signup import SignUpRequest, SignUpResponse, sign_up, signed_up
from tollway.identity.users import DOMAIN_SCHEMA
from tollway.models import DEFAULT_TENANT
from tollway.rest.deps import DbSession
from tollway.rest.schemas import ErrorBody

router = APIRouter(tags=["self sign-up"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "Bad request (or no such tenant): the description names the field",
    },
    409: {"model": ErrorBody, "description": "The user name is taken"},
}
_TENANT = f"the tenant to join (default {DEFAULT_TENANT})"


@router.post(
    "/api/identity/user/v1.0/me",
    status_code=201,
    response_model=SignUpResponse,
    responses=_ERRORS,
    summary="Self sign-up of a developer-portal user (role Internal/subscriber)",
)
def sign_up_endpoint(
    body: SignUpRequest,
    session: DbSession,
    x_wso2_tenant: str | None = Header(
        None, alias="X-WSO2-Tenant", description=_TENANT, json_schema_extra=DOMAIN_SCHEMA
    ),
    tenant_domain: str | None = Query(
        None, alias="tenantDomain", description=_TENANT, json_schema_extra=DOMAIN_SCHEMA
    ),
) -> SignUpResponse:
    if x_wso2_tenant and tenant_domain and x_wso2_tenant != tenant_domain:
        raise BadRequest("'tenantDomain': differs from the X-WSO2-Tenant header")
    domain = x_wso2_tenant or tenant_domain or DEFAULT_TENANT
    return signed_up(body, sign_up(session, domain, body), domain)
