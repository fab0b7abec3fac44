"""Users: name and password rules, creation, sign-in, role and status changes.

Sign-in names are ``name`` in the default tenant and ``name@tenant.domain`` elsewhere; the
local part is what is stored. Local names cannot contain ``@``, so the split is unambiguous.
Callers validate request fields with :func:`local_username`, :func:`check_password` and
:func:`check_roles`, which name the API's field in their messages.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tollway.db.base import utcnow
from tollway.errors import BadRequest, Conflict
from tollway.identity import repository
from tollway.identity.roles import ROLES
from tollway.identity.tokens import revoke_user_tokens
from tollway.models import DEFAULT_TENANT, User, UserRole
from tollway.models.changes import mark_gateway_config_changed
from tollway.security.hashing import hash_password, needs_rehash, verify_password

USERNAME_REGEX = r"[A-Za-z0-9][A-Za-z0-9._-]{2,99}"
# A tenant's domain: a lower-case DNS name of two labels or more, 3 to 190 characters.
DOMAIN_REGEX = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
MIN_DOMAIN_LENGTH, MAX_DOMAIN_LENGTH = 3, 190
EMAIL_REGEX = r"[^@\s]+@[^@\s]+"
USERNAME_PATTERN = re.compile(USERNAME_REGEX)
DOMAIN_PATTERN = re.compile(DOMAIN_REGEX)
EMAIL_PATTERN = re.compile(EMAIL_REGEX)
MIN_PASSWORD_LENGTH = 8
# argon2 hashes any length; the cap bounds the work one request can ask for.
MAX_PASSWORD_LENGTH = 256

# The rules above as JSON Schema, for the OpenAPI documents (the checks below stay, for messages
# that name the field).
DOMAIN_SCHEMA: dict[str, Any] = {
    "pattern": f"^{DOMAIN_REGEX}$",
    "minLength": MIN_DOMAIN_LENGTH,
    "maxLength": MAX_DOMAIN_LENGTH,
}
LOGIN_SCHEMA: dict[str, Any] = {
    "pattern": f"^{USERNAME_REGEX}(?:@{DOMAIN_REGEX})?$"
}  # name, or name@tenant.domain
PASSWORD_SCHEMA: dict[str, Any] = {"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH}
EMAIL_SCHEMA: dict[str, Any] = {"pattern": f"^{EMAIL_REGEX}$"}
_CANONICAL_ROLES = {role.lower(): role for role in ROLES}


class UsernameTaken(Conflict):
    """Another user of the tenant already has the name (SCIM "uniqueness")."""


@dataclass(frozen=True, slots=True)
class Profile:
    email: str | None = None
    given_name: str | None = None
    family_name: str | None = None


def split_login(login: str) -> tuple[str, str]:
    """``"name@domain"`` -> ``("name", "domain")``; ``"name"`` -> ``("name", "carbon.super")``."""
    name, sep, domain = login.rpartition("@")
    return (name, domain) if sep else (login, DEFAULT_TENANT)


def local_username(raw: str, tenant_domain: str, field: str) -> str:
    """The stored name for ``raw`` given as ``name`` or ``name@<tenant_domain>``."""
    name, sep, domain = raw.rpartition("@")
    if sep:
        if domain != tenant_domain:
            raise BadRequest(f"'{field}': the name's domain '{domain}' is not the tenant '{tenant_domain}'")
        raw = name
    if not USERNAME_PATTERN.fullmatch(raw):
        raise BadRequest(
            f"'{field}': 3 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return raw


def check_password(password: str, field: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"'{field}': the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"'{field}': the password must have at most {MAX_PASSWORD_LENGTH} characters")


def check_email(email: str, field: str) -> None:
    if not EMAIL_PATTERN.fullmatch(email):
        raise BadRequest(f"'{field}': not an e-mail address")


def check_roles(values: Iterable[str], field: str) -> set[str]:
    """Role names matched case-insensitively, returned in their canonical spelling."""
    roles: set[str] = set()
    for value in values:
        role = _CANONICAL_ROLES.get(value.lower())
        if role is None:
            raise BadRequest(f"'{field}': unknown role '{value}'; the roles are {', '.join(ROLES)}")
        roles.add(role)
    return roles


def create_user(
    session: Session,
    tenant_id: str,
    *,
    username: str,
    password: str,
    roles: set[str],
    profile: Profile = Profile(),
    active: bool = True,
) -> User:
    """Add a user whose fields the caller has validated; :class:`UsernameTaken` if the name is used."""
    if repository.user_by_name(session, tenant_id, username) is not None:
        raise UsernameTaken(f"a user named '{username}' already exists")
    user = User(
        tenant_id=tenant_id,
        username=username,
        password_hash=hash_password(password),
        email=profile.email,
        given_name=profile.given_name,
        family_name=profile.family_name,
        active=active,
        roles=[UserRole(role=role) for role in sorted(roles)],
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # A concurrent request took the name between the check and the insert.
        raise UsernameTaken(f"a user named '{username}' already exists") from None
    return user


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def authenticate(session: Session, login: str, password: str) -> User | None:
    """The active user of an active tenant named ``login`` whose password is ``password``."""
    name, domain = split_login(login)
    tenant = repository.tenant_by_domain(session, domain)
    user = repository.user_by_name(session, tenant.id, name) if tenant and tenant.active else None
    if user is None or not user.active:
        verify_password(_dummy_hash(), password)  # same work, so timing does not reveal names
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.updated_at = utcnow()


def set_roles(user: User, roles: set[str]) -> None:
    if roles == user.role_names:
        return
    user.roles = [r for r in user.roles if r.role in roles] + [
        UserRole(role=role) for role in sorted(roles - user.role_names)
    ]
    user.updated_at = utcnow()


def set_active(session: Session, user: User, active: bool) -> None:
    """A deactivated user's tokens, and their applications' tokens, stop working at once."""
    if user.active == active:
        return
    user.active = active
    user.updated_at = utcnow()
    session.flush()
    if not active:
        revoke_user_tokens(session, user.id)
    mark_gateway_config_changed(session)


def delete_user(session: Session, user: User) -> None:
    """Delete a user who owns no applications.

    Deleting an owner would cascade to their applications and subscriptions behind the billing
    engine's back (its subscriptions would keep charging), so those must be removed first, or
    the user deactivated instead.
    """
    if repository.owns_applications(session, user.id):
        raise Conflict(f"user '{user.username}' owns applications; delete them first, or deactivate the user")
    session.delete(user)
    session.flush()
    mark_gateway_config_changed(session)
