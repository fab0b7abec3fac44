"""Developer-portal self sign-up: WSO2's POST /api/identity/user/v1.0/me.

No authentication (it is how a developer gets an account). The tenant comes from the
``X-WSO2-Tenant`` header or ``?tenantDomain=`` (default ``carbon.super``).
"""

from __future__ import annotations

from fastapi import APIRouter, Header, Query

from tollway.errors import BadRequest
from tollway.identity.signup import SignUpRequest, SignUpResponse, sign_up, signed_up
from tollway.models import DEFAULT_TENANT
from tollway.rest.deps import DbSession

router = APIRouter(tags=["self sign-up"])


@router.post(
    "/api/identity/user/v1.0/me",
    status_code=201,
    response_model=SignUpResponse,
    summary="Self sign-up of a developer-portal user (role Internal/subscriber)",
)
def sign_up_endpoint(
    body: SignUpRequest,
    session: DbSession,
    x_wso2_tenant: str | None = Header(None, alias="X-WSO2-Tenant"),
    tenant_domain: str | None = Query(None, alias="tenantDomain"),
) -> SignUpResponse:
    if x_wso2_tenant and tenant_domain and x_wso2_tenant != tenant_domain:
        raise BadRequest("'tenantDomain': differs from the X-WSO2-Tenant header")
    domain = x_wso2_tenant or tenant_domain or DEFAULT_TENANT
    return signed_up(body, sign_up(session, domain, body), domain)
