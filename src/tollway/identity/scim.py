"""SCIM 2.0 mapping of users (RFC 7643 resource, RFC 7644 protocol): bodies, filters, PATCH.

Attribute names are case-insensitive (RFC 7643 2.1). Tollway keeps one e-mail address per user
and refuses a second rather than drop it. ``userName`` is answered as the sign-in name
(``name@tenant.domain`` outside the default tenant) and cannot be changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tollway.errors import BadRequest, TollwayError
from tollway.identity.principal import qualified_username
from tollway.identity.roles import ROLES
from tollway.identity.users import (
    EMAIL_PATTERN,
    EMAIL_SCHEMA,
    LOGIN_SCHEMA,
    PASSWORD_SCHEMA,
    UsernameTaken,
    check_password,
    check_roles,
)
from tollway.models import User
from tollway.rest.bodies import JsonRefused, LoneSurrogate, decode_json
from tollway.rest.errors import describe_validation_error

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_MEDIA_TYPE = "application/scim+json"

M = TypeVar("M", bound=BaseModel)


class ScimJSONResponse(JSONResponse):
    """What every SCIM answer is labelled (RFC 7644 3.1); the OpenAPI documents say so too."""

    media_type = SCIM_MEDIA_TYPE


class ScimError(Exception):
    """An error answered in RFC 7644 3.12 shape."""

    def __init__(
        self, status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    @classmethod
    def from_tollway(cls, exc: TollwayError) -> ScimError:
        scim_type = (
            "uniqueness"
            if isinstance(exc, UsernameTaken)
            else "invalidValue"
            if isinstance(exc, BadRequest)
            else None
        )
        return cls(exc.status_code, exc.description or exc.message, scim_type)

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return JSONResponse(body, status_code=self.status, headers=self.headers, media_type=SCIM_MEDIA_TYPE)


# ----- request bodies -----------------------------------------------------------------------

_ATTRIBUTES = {
    name.lower(): name
    for name in (
        "schemas", "id", "meta", "userName", "password", "name", "givenName", "familyName", "emails",
        "value", "primary", "type", "display", "roles", "active", "Operations", "op", "path",
    )
}  # fmt: skip


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NameIn(_In):
    givenName: str | None = Field(None, max_length=190)
    familyName: str | None = Field(None, max_length=190)


class EmailIn(_In):
    value: str = Field(max_length=255, json_schema_extra=EMAIL_SCHEMA)
    primary: bool | None = None
    type: str | None = None

    @field_validator("value")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        if not EMAIL_PATTERN.fullmatch(value):
            raise ValueError("not an e-mail address")
        return value


class RoleIn(_In):
    value: str = Field(description="case-insensitive", json_schema_extra={"enum": list(ROLES)})
    display: str | None = None


class UserIn(_In):
    """POST /scim2/Users."""

    schemas: list[str] = [USER_SCHEMA]
    userName: str = Field(max_length=300, json_schema_extra=LOGIN_SCHEMA)
    password: str = Field(json_schema_extra=PASSWORD_SCHEMA)
    name: NameIn | None = None
    emails: list[EmailIn] = []
    roles: list[RoleIn] = []
    active: bool = True


class PatchOperationIn(_In):
    op: str
    path: str | None = None
    value: Any = None


class PatchIn(_In):
    """PATCH /scim2/Users/{id} (RFC 7644 3.5.2)."""

    schemas: list[str]
    Operations: list[PatchOperationIn] = Field(min_length=1)


def canonical_keys(data: Any) -> Any:
    """Spell known attribute names the standard way, whatever their case in the request."""
    if isinstance(data, dict):
        return {_ATTRIBUTES.get(str(k).lower(), k): canonical_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [canonical_keys(v) for v in data]
    return data


def refused_body(refused: JsonRefused) -> ScimError:
    """A body that parses but cannot be kept (tollway.rest.bodies), as a SCIM error."""
    return ScimError(
        400, str(refused), "invalidValue" if isinstance(refused, LoneSurrogate) else "invalidSyntax"
    )


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, whatever its Content-Type says (JsonBodyCheck sees JSON labels only)."""
    try:
        data = decode_json(body)
    except JsonRefused as refused:
        raise refused_body(refused) from None
    except ValueError:  # UnicodeDecodeError included
        raise ScimError(400, "the body is not valid JSON", "invalidSyntax") from None
    if not isinstance(data, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    result: dict[str, Any] = canonical_keys(data)
    return result


def parse(model: type[M], data: Any, schema: str | None = None) -> M:
    """Validate ``data`` as ``model``; a message body must also name its ``schema``."""
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise ScimError(
            400, describe_validation_error(RequestValidationError(exc.errors())), "invalidValue"
        ) from None
    if schema is not None and schema not in getattr(parsed, "schemas", ()):
        raise ScimError(400, f"'schemas' must include {schema}", "invalidSyntax")
    return parsed


def single_email(emails: list[EmailIn]) -> str | None:
    values = list(dict.fromkeys(e.value for e in emails))
    if len(values) > 1:
        raise ScimError(400, "'emails': Tollway keeps one e-mail address per user", "invalidValue")
    return values[0] if values else None


# ----- answers ------------------------------------------------------------------------------


class NameOut(BaseModel):
    givenName: str | None = None
    familyName: str | None = None


class EmailOut(BaseModel):
    value: str
    primary: bool = True


class RoleOut(BaseModel):
    value: str


class MetaOut(BaseModel):
    resourceType: str = "User"
    created: datetime
    lastModified: datetime
    location: str


class UserOut(BaseModel):
    schemas: list[str] = [USER_SCHEMA]
    id: str
    userName: str
    name: NameOut | None = None
    emails: list[EmailOut] | None = None
    roles: list[RoleOut]
    active: bool
    meta: MetaOut


class ListResponseOut(BaseModel):
    schemas: list[str] = [LIST_SCHEMA]
    totalResults: int
    startIndex: int
    itemsPerPage: int
    Resources: list[UserOut]


class ErrorOut(BaseModel):
    schemas: list[str] = [ERROR_SCHEMA]
    status: str
    scimType: str | None = None
    detail: str


def user_resource(user: User, tenant_domain: str, base_url: str) -> UserOut:
    has_name = user.given_name is not None or user.family_name is not None
    return UserOut(
        id=user.id,
        userName=qualified_username(user.username, tenant_domain),
        name=NameOut(givenName=user.given_name, familyName=user.family_name) if has_name else None,
        emails=[EmailOut(value=user.email)] if user.email else None,
        roles=[RoleOut(value=role) for role in sorted(user.role_names)],
        active=user.active,
        meta=MetaOut(
            created=user.created_at,
            lastModified=user.updated_at or user.created_at,
            location=f"{base_url}/scim2/Users/{user.id}",
        ),
    )


def scim_json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        model.model_dump(mode="json", exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=SCIM_MEDIA_TYPE,
    )


# ----- filter -------------------------------------------------------------------------------

_FILTER = re.compile(r'\s*userName\s+eq\s+"((?:[^"\\]|\\.)*)"\s*', re.IGNORECASE)


def _quoted(escaped: str, what: str, scim_type: str) -> str:
    """The text of a quoted string in a filter or a path (JSON string escapes)."""
    try:
        value = decode_json(f'"{escaped}"')
    except LoneSurrogate:
        raise ScimError(
            400, f"{what} contains a lone UTF-16 surrogate (\\ud800-\\udfff without its pair)", scim_type
        ) from None
    except ValueError:
        raise ScimError(400, f"{what} is not a valid JSON string", scim_type) from None
    if not isinstance(value, str):  # pragma: no cover - the patterns allow no unescaped quote
        raise ScimError(400, f"{what} is not a valid JSON string", scim_type)
    return value


def filtered_username(filter_text: str | None, tenant_domain: str) -> str | None:
    """The local name a ``userName eq "x"`` filter asks for (None: no filter)."""
    if filter_text is None:
        return None
    match = _FILTER.fullmatch(filter_text)
    if match is None:
        raise ScimError(400, 'the supported filter is userName eq "name"', "invalidFilter")
    wanted = _quoted(match.group(1), "the filter's value", "invalidFilter")
    name, sep, domain = wanted.rpartition("@")
    if sep and domain == tenant_domain:
        return name
    # A name of another tenant is returned as is: stored names never contain "@", so nothing matches.
    return wanted


# ----- PATCH --------------------------------------------------------------------------------


@dataclass
class UserDraft:
    """What a PATCH may change, applied to the user only when every operation is valid."""

    password: str | None
    active: bool
    given_name: str | None
    family_name: str | None
    email: str | None
    roles: set[str]

    @classmethod
    def of(cls, user: User) -> UserDraft:
        return cls(None, user.active, user.given_name, user.family_name, user.email, set(user.role_names))


_PATH = re.compile(
    r'(?P<attr>[A-Za-z]+)(?:\[\s*value\s+eq\s+"(?P<value>(?:[^"\\]|\\.)*)"\s*\])?(?:\.(?P<sub>[A-Za-z]+))?',
    re.IGNORECASE,
)


def apply_patch(draft: UserDraft, patch: PatchIn) -> None:
    for operation in patch.Operations:
        op = operation.op.lower()
        if op not in ("add", "replace", "remove"):
            raise ScimError(400, f"unknown op '{operation.op}'; use add, replace or remove", "invalidSyntax")
        if operation.path is None:
            if op == "remove":
                raise ScimError(400, "remove needs a path", "noTarget")
            if not isinstance(operation.value, dict):
                raise ScimError(
                    400, "without a path, 'value' must be an object of attributes", "invalidValue"
                )
            for attr, value in operation.value.items():
                _set(draft, op, attr, None, value)
            continue
        attr, wanted, sub = _parse_path(operation.path)
        if op == "remove":
            _remove(draft, attr, wanted, sub)
        elif wanted is not None:
            raise ScimError(400, "a value filter in the path is supported with remove only", "invalidPath")
        else:
            _set(draft, op, attr, sub, operation.value)


def _parse_path(path: str) -> tuple[str, str | None, str | None]:
    text = path.strip()
    if text.lower().startswith(USER_SCHEMA.lower() + ":"):
        text = text[len(USER_SCHEMA) + 1 :]
    match = _PATH.fullmatch(text)
    if match is None:
        raise ScimError(400, f"unsupported path '{path}'", "invalidPath")
    wanted = match.group("value")
    sub = match.group("sub")
    return (
        _ATTRIBUTES.get(match.group("attr").lower(), match.group("attr")),
        _quoted(wanted, "the path's value", "invalidPath") if wanted is not None else None,
        _ATTRIBUTES.get(sub.lower(), sub) if sub else None,
    )


def _set(draft: UserDraft, op: str, attr: str, sub: str | None, value: Any) -> None:
    if sub is not None and attr != "name":
        raise ScimError(400, f"'{attr}' has no sub-attribute '{sub}'", "invalidPath")
    if attr == "password":
        if not isinstance(value, str):
            raise ScimError(400, "'password' must be a string", "invalidValue")
        check_password(value, "password")
        draft.password = value
    elif attr == "active":
        draft.active = _boolean(value)
    elif attr == "name":
        name = parse(NameIn, value if sub is None else {sub: value})
        # A complex attribute's unspecified sub-attributes stay as they are (RFC 7644 3.5.2.1/3).
        if "givenName" in name.model_fields_set:
            draft.given_name = name.givenName
        if "familyName" in name.model_fields_set:
            draft.family_name = name.familyName
    elif attr == "emails":
        emails = [parse(EmailIn, item) for item in _items(value, "emails")]
        kept = [EmailIn(value=draft.email)] if op == "add" and draft.email else []
        draft.email = single_email(kept + emails)
    elif attr == "roles":
        roles = check_roles([parse(RoleIn, item).value for item in _items(value, "roles")], "roles")
        draft.roles = draft.roles | roles if op == "add" else roles
    elif attr == "userName":
        raise ScimError(400, "userName cannot be changed", "mutability")
    else:
        raise ScimError(400, f"unknown or read-only attribute '{attr}'", "invalidPath")


def _remove(draft: UserDraft, attr: str, wanted: str | None, sub: str | None) -> None:
    if attr == "roles" and sub is None:
        if wanted is None:
            draft.roles = set()
        else:
            draft.roles = {role for role in draft.roles if role.lower() != wanted.lower()}
    elif attr == "emails" and sub is None:
        if wanted is None or (draft.email or "").lower() == wanted.lower():
            draft.email = None
    elif attr == "name" and wanted is None:
        if sub in (None, "givenName"):
            draft.given_name = None
        if sub in (None, "familyName"):
            draft.family_name = None
        if sub not in (None, "givenName", "familyName"):
            raise ScimError(400, f"'name' has no sub-attribute '{sub}'", "invalidPath")
    elif attr in ("password", "active", "userName"):
        raise ScimError(400, f"'{attr}' is required and cannot be removed", "mutability")
    else:
        raise ScimError(400, f"unsupported path '{attr}'", "invalidPath")


def _items(value: Any, attr: str) -> list[Any]:
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise ScimError(400, f"'{attr}' must be a list of objects", "invalidValue")
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # Some provisioning clients (Azure AD) send booleans as "True"/"False".
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimError(400, "'active' must be true or false", "invalidValue")
