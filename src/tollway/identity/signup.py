"""Self sign-up of a developer-portal user (role ``Internal/subscriber``), WSO2's way.

``properties`` (WSO2 sends e.g. a callback URL for its e-mail confirmation flow) is accepted and
not used: Tollway does not send e-mails. Served over REST by :mod:`tollway.identity.signup_endpoints`
and used by the developer portal's sign-up page.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tollway.errors import BadRequest
from tollway.identity import repository
from tollway.identity.principal import qualified_username
from tollway.identity.roles import ROLE_SUBSCRIBER
from tollway.identity.users import (
    LOGIN_SCHEMA,
    PASSWORD_SCHEMA,
    Profile,
    check_email,
    check_password,
    create_user,
    local_username,
)
from tollway.models import User

PRIMARY_REALM = "PRIMARY"
CLAIM_GIVEN_NAME = "http://wso2.org/claims/givenname"
CLAIM_LAST_NAME = "http://wso2.org/claims/lastname"
CLAIM_EMAIL = "http://wso2.org/claims/emailaddress"
CLAIMS = (CLAIM_GIVEN_NAME, CLAIM_LAST_NAME, CLAIM_EMAIL)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Claim(_In):
    uri: str = Field(json_schema_extra={"enum": list(CLAIMS)})
    value: str = Field(max_length=190, description=f"an e-mail address for {CLAIM_EMAIL}")


class Property(_In):
    key: str
    value: str


class SignUpUser(_In):
    username: str = Field(max_length=300, json_schema_extra=LOGIN_SCHEMA)
    realm: str = Field(
        PRIMARY_REALM, description="case-insensitive", json_schema_extra={"enum": [PRIMARY_REALM]}
    )
    password: str = Field(json_schema_extra=PASSWORD_SCHEMA)
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


def sign_up(session: Session, domain: str, body: SignUpRequest) -> User:
    """Create the user in tenant ``domain``; 400 naming the field for bad input, 409 if taken."""
    tenant = repository.tenant_by_domain(session, domain)
    if tenant is None or not tenant.active:
        raise BadRequest(f"'tenantDomain': no tenant '{domain}'")
    user = body.user
    if user.realm.upper() != PRIMARY_REALM:
        raise BadRequest(f"'user.realm': the only user store is {PRIMARY_REALM}")
    claims = _claims(body)
    if CLAIM_EMAIL in claims:
        check_email(claims[CLAIM_EMAIL], "user.claims")
    username = local_username(user.username, tenant.domain, "user.username")
    check_password(user.password, "user.password")
    return create_user(
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


def _claims(body: SignUpRequest) -> dict[str, str]:
    claims: dict[str, str] = {}
    for claim in body.user.claims:
        if claim.uri not in CLAIMS:
            raise BadRequest(f"'user.claims': unknown claim '{claim.uri}'; known: {', '.join(CLAIMS)}")
        claims[claim.uri] = claim.value
    return claims


def signed_up(body: SignUpRequest, user: User, domain: str) -> SignUpResponse:
    return SignUpResponse(
        user=SignedUpUser(
            username=qualified_username(user.username, domain),
            realm=PRIMARY_REALM,
            claims=[ClaimOut(uri=uri, value=value) for uri, value in _claims(body).items()],
        )
    )
