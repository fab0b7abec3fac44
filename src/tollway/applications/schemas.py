"""Developer-portal bodies for applications and their credentials (WSO2 3.x shapes)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from tollway.rest.pagination import Pagination
from tollway.rest.schemas import Choice, MultiLine, RequestBody, ResponseBody, SingleLine

# WSO2's default application-level throttling tiers.
APPLICATION_POLICIES = ("Unlimited", "50PerMin", "20PerMin", "10PerMin")
TOKEN_TYPES = ("JWT", "OAUTH")
KEY_TYPES = ("PRODUCTION", "SANDBOX")
GRANT_TYPES = ("client_credentials", "password", "refresh_token")
TOKEN_SCOPES = ("default",)
KEY_MANAGERS = ("Resident Key Manager", "default")
MAX_VALIDITY = 10 * 365 * 24 * 3600  # seconds

AppName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[\w .@-]+$"),
    SingleLine,
]
AttributeKey = Annotated[str, StringConstraints(min_length=1, max_length=100), SingleLine]
AttributeValue = Annotated[str, StringConstraints(max_length=1000), SingleLine]
ReadOnlyText = Annotated[str, StringConstraints(max_length=255), SingleLine]
Validity = Annotated[int, Field(ge=1, le=MAX_VALIDITY)]
# WSO2 sends validityTime as a string ("3600"); both forms are accepted.
ValidityOrText = Validity | Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,8}$")]
KeyType = Annotated[str, Choice(*KEY_TYPES)]


class ApplicationIn(RequestBody):
    """An application. ``applicationId``, ``owner``, ``status`` and ``subscriptionCount`` are
    read-only (accepted so that a GET body can be sent back with PUT)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Weather app", "throttlingPolicy": "Unlimited"}]}
    )

    applicationId: ReadOnlyText | None = None
    name: AppName
    throttlingPolicy: Annotated[str, Choice(*APPLICATION_POLICIES)] = "Unlimited"
    description: Annotated[str, StringConstraints(max_length=4000), MultiLine] | None = None
    tokenType: Annotated[str, Choice(*TOKEN_TYPES)] = "JWT"
    attributes: Annotated[dict[AttributeKey, AttributeValue], Field(max_length=20)] = {}
    owner: ReadOnlyText | None = None
    status: ReadOnlyText | None = None
    subscriptionCount: Annotated[int, Field(ge=0)] | None = None


class ApplicationOut(ResponseBody):
    applicationId: str
    name: str
    throttlingPolicy: str
    description: str | None
    tokenType: str
    owner: str
    status: str = "APPROVED"
    subscriptionCount: int
    attributes: dict[str, str]


class ApplicationList(ResponseBody):
    count: int
    list: list[ApplicationOut]
    pagination: Pagination


class KeyGenerateIn(RequestBody):
    keyType: KeyType
    grantTypesToBeSupported: Annotated[
        list[Annotated[str, Choice(*GRANT_TYPES)]], Field(min_length=1, max_length=len(GRANT_TYPES))
    ] = ["client_credentials"]
    validityTime: ValidityOrText = 3600
    callbackUrl: Annotated[str, StringConstraints(max_length=1024), SingleLine] | None = None
    scopes: Annotated[list[Annotated[str, Choice(*TOKEN_SCOPES)]], Field(max_length=1)] | None = None
    keyManager: Annotated[str, Choice(*KEY_MANAGERS)] | None = None


class TokenOut(ResponseBody):
    accessToken: str
    validityTime: int
    tokenScopes: list[str]


class ApplicationKeyOut(ResponseBody):
    keyType: str
    keyManager: str = "Resident Key Manager"
    consumerKey: str
    # Shown once, when the keys are generated; stored hashed.
    consumerSecret: str | None
    supportedGrantTypes: list[str]
    callbackUrl: str | None
    keyState: str = "COMPLETED"
    token: TokenOut | None


class ApplicationKeyList(ResponseBody):
    count: int
    list: list[ApplicationKeyOut]


class TokenGenerateIn(RequestBody):
    consumerSecret: Annotated[str, StringConstraints(min_length=1, max_length=255), SingleLine]
    validityPeriod: ValidityOrText = 3600
    scopes: Annotated[list[Annotated[str, Choice(*TOKEN_SCOPES)]], Field(max_length=1)] | None = None
    revokeToken: Annotated[str, StringConstraints(max_length=512), SingleLine] | None = None


class ApiKeyGenerateIn(RequestBody):
    # -1: the key never expires (WSO2's convention).
    validityPeriod: Annotated[int, Field(ge=-1, le=MAX_VALIDITY)] = -1


class ApiKeyOut(ResponseBody):
    apikey: str
    validityTime: int


class ApiKeyRevokeIn(RequestBody):
    apikey: Annotated[str, StringConstraints(min_length=1, max_length=4096), SingleLine]
