"""Bodies of the identity endpoints (WSO2 3.x field names)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tollway.identity.users import LOGIN_SCHEMA

# WSO2's grant type names. Tollway's token endpoint serves the first three; the others are
# recorded so WSO2 registration scripts keep working, and refused at /oauth2/token.
KNOWN_GRANT_TYPES = (
    "password",
    "client_credentials",
    "refresh_token",
    "authorization_code",
    "implicit",
    "iwa:ntlm",
    "urn:ietf:params:oauth:grant-type:saml2-bearer",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:device_code",
)  # all of them, joined, fit OAuthClient.grant_types (255)
# One or more of them, separated by white space (none of the names holds a regex metacharacter).
GRANT_TYPES_PATTERN = rf"^\s*(?:(?:{'|'.join(KNOWN_GRANT_TYPES)})(?:\s+|$))+$"


class RegistrationRequest(BaseModel):
    """Dynamic client registration, as in the manual's payload.json."""

    model_config = ConfigDict(extra="forbid")

    callbackUrl: str | None = Field(None, max_length=1024)
    clientName: str = Field(min_length=1, max_length=190)
    owner: str | None = Field(
        None,
        description="the caller by default; an admin may name another user",
        json_schema_extra=LOGIN_SCHEMA,
    )
    grantType: str = Field(
        "password refresh_token",
        description="space-separated grant types",
        json_schema_extra={"pattern": GRANT_TYPES_PATTERN},
    )
    saasApp: bool = False


class RegistrationResponse(BaseModel):
    clientId: str
    clientName: str
    callBackURL: str | None
    clientSecret: str
    isSaasApplication: bool = Field(description="the saasApp flag the client was registered with")
    appOwner: str
    jsonString: str


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str | None = None
    scope: str
    token_type: str = "Bearer"  # noqa: S105 - the token type, not a secret
    expires_in: int


class OAuthErrorBody(BaseModel):
    error: str = Field(
        description="invalid_request, invalid_client, invalid_grant, unauthorized_client, "
        "unsupported_grant_type or invalid_scope"
    )
    error_description: str
