"""Developer-portal self sign-up: WSO2's POST /api/identity/user/v1.0/me.

No authentication (it is how a developer gets an account). The tenant comes from the
``X-WSO2-Tenant`` header or ``?tenantDomain=`` (default ``carbon.super``). The new user gets the
``Internal/subscriber`` role only. ``properties`` (WSO2 sends e.g. a callback URL for its
e-mail confirmation flow) is accepted and not used: Tollway does not send e-mails.
"""

from __future__ import annotations

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from tollway.errors import BadRequest
from tollway.identity import repository
from tollway.identity.principal import qualified_username
from tollway.identity.roles import ROLE_SUBSCRIBER
from tollway.identity.users import Profile, check_email, check_password, create_user, local_username
from tollway.models import DEFAULT_TENANT
from tollway.rest.deps import DbSession

PRIMARY_REALM = "PRIMARY"
CLAIM_GIVEN_NAME = "http://wso2.org/claims/givenname"
CLAIM_LAST_NAME = "http://wso2.org/claims/lastname"
CLAIM_EMAIL = "http://wso2.org/claims/emailaddress"
CLAIMS = (CLAIM_GIVEN_NAME, CLAIM_LAST_NAME, CLAIM_EMAIL)

router = APIRouter(tags=["self sign-up"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Claim(_In):
    uri: str
    value: str = Field(max_length=190)


class Property(_In):
    key: str
    value: str


class SignUpUser(_In):
    username: str = Field(max_length=300)
    realm: str = PRIMARY_REALM
    password: str
    claims: list[Claim] = []


class SignUpRequest(_In):
    user: SignUpUser
    properties: list[Property] = []


class ClaimOut(BaseModel):
    uri: str
    value: str


class SignedUpUser(BaseModel):
    username: str
    realm: str
    claims: list[ClaimOut]


class SignUpResponse(BaseModel):
    user: SignedUpUser


@router.post(
    "/api/identity/user/v1.0/me",
    status_code=201,
    response_model=SignUpResponse,
    summary="Self sign-up of a developer-portal user (role Internal/subscriber)",
)
def sign_up(
    body: SignUpRequest,
    session: DbSession,
    x_wso2_tenant: str | None = Header(None, alias="X-WSO2-Tenant"),
    tenant_domain: str | None = Query(None, alias="tenantDomain"),
) -> SignUpResponse:
    if x_wso2_tenant and tenant_domain and x_wso2_tenant != tenant_domain:
        raise BadRequest("'tenantDomain': differs from the X-WSO2-Tenant header")
    domain = x_wso2_tenant or tenant_domain or DEFAULT_TENANT
    tenant = repository.tenant_by_domain(session, domain)
    if tenant is None or not tenant.active:
        raise BadRequest(f"'tenantDomain': no tenant '{domain}'")
    user = body.user
    if user.realm.upper() != PRIMARY_REALM:
        raise BadRequest(f"'user.realm': the only user store is {PRIMARY_REALM}")
    claims: dict[str, str] = {}
    for claim in user.claims:
        if claim.uri not in CLAIMS:
            raise BadRequest(f"'user.claims': unknown claim '{claim.uri}'; known: {', '.join(CLAIMS)}")
        claims[claim.uri] = claim.value
    if CLAIM_EMAIL in claims:
        check_email(claims[CLAIM_EMAIL], "user.claims")
    username = local_username(user.username, tenant.domain, "user.username")
    check_password(user.password, "user.password")
    created = create_user(
        session,
        tenant.id,
        username=username,
        password=user.password,
        roles={ROLE_SUBSCRIBER},
        profile=Profile(
            email=claims.get(CLAIM_EMAIL),
            given_name=claims.get(CLAIM_GIVEN_NAME),
            family_name=claims.get(CLAIM_LAST_NAME),
        ),
    )
    return SignUpResponse(
        user=SignedUpUser(
            username=qualified_username(created.username, tenant.domain),
            realm=PRIMARY_REALM,
            claims=[ClaimOut(uri=uri, value=value) for uri, value in claims.items()],
        )
    )
