"""Portal sign-in state: a signed session cookie carrying the user and a CSRF token.

The cookie is signed (not encrypted) with a key derived from the instance master key, so it
survives restarts and is the same on every control-plane node; nothing secret is stored in it.
It holds the user id, a CSRF token and a fingerprint of the user's password hash: changing the
password ends every session of that user. Anonymous visitors get a cookie too (CSRF token only),
so the sign-in and sign-up forms are protected like every other form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from tollway.identity.roles import ROLE_ADMIN, ROLE_CREATOR, ROLE_PUBLISHER
from tollway.models import DEFAULT_TENANT, Tenant, User
from tollway.runtime import Runtime

COOKIE_NAME = "tollway_portal"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_MAX_AGE = 8 * 3600  # seconds: a working day, then sign in again
_SALT = "tollway.portal.session.v1"

PUBLISHER_ROLES = frozenset({ROLE_ADMIN, ROLE_PUBLISHER, ROLE_CREATOR})


def session_key(runtime: Runtime) -> bytes:
    """The cookies' signing key, derived from the master key for this purpose only."""
    return runtime.secrets.derive(b"tollway portal session cookie")


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class PortalUser:
    """The signed-in person, as the portal pages need them."""

    user_id: str
    tenant_id: str
    tenant_domain: str
    username: str  # local name, without "@tenant"
    roles: frozenset[str]

    @property
    def display_name(self) -> str:
        if self.tenant_domain == DEFAULT_TENANT:
            return self.username
        return f"{self.username}@{self.tenant_domain}"

    @property
    def is_admin(self) -> bool:
        return ROLE_ADMIN in self.roles

    @property
    def can_publish(self) -> bool:
        return bool(self.roles & PUBLISHER_ROLES)


@dataclass
class PortalSession:
    """The decoded cookie; ``dirty`` when it must be written back on the response."""

    data: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False

    @property
    def csrf_token(self) -> str:
        token = self.data.get("c")
        if not isinstance(token, str) or len(token) < 20:
            token = secrets.token_urlsafe(24)
            self.data["c"] = token
            self.dirty = True
        return token

    def check_csrf(self, presented: str | None) -> bool:
        expected = self.data.get("c")
        if not isinstance(expected, str) or not presented:
            return False
        return hmac.compare_digest(expected.encode(), presented.encode())

    def sign_in(self, user: User) -> None:
        # A new CSRF token at sign-in: a token planted before sign-in is worthless after it.
        self.data = {
            "u": user.id,
            "p": password_fingerprint(user.password_hash),
            "c": secrets.token_urlsafe(24),
        }
        self.dirty = True

    def sign_out(self) -> None:
        self.data = {"c": secrets.token_urlsafe(24)}
        self.dirty = True

    def flash(self, message: str) -> None:
        self.data["f"] = message[:300]
        self.dirty = True

    def pop_flash(self) -> str | None:
        message = self.data.pop("f", None)
        if message is not None:
            self.dirty = True
        return message if isinstance(message, str) else None

    @property
    def user_id(self) -> str | None:
        value = self.data.get("u")
        return value if isinstance(value, str) else None


def _serializer(runtime: Runtime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_key(runtime), salt=_SALT)


def load_session(request: Request, runtime: Runtime) -> PortalSession:
    cached = request.scope.get("tollway.portal_session")
    if isinstance(cached, PortalSession):
        return cached
    raw = request.cookies.get(COOKIE_NAME)
    data: dict[str, Any] = {}
    if raw:
        try:
            loaded = _serializer(runtime).loads(raw, max_age=SESSION_MAX_AGE)
            if isinstance(loaded, dict):
                data = loaded
        except BadSignature:
            data = {}
    session = PortalSession(data=data)
    request.scope["tollway.portal_session"] = session
    return session


def store_session(request: Request, runtime: Runtime, response: Response) -> None:
    """Write the cookie back when it changed (sign-in, sign-out, flash, first CSRF token)."""
    session = request.scope.get("tollway.portal_session")
    if not isinstance(session, PortalSession) or not session.dirty:
        return
    response.set_cookie(
        COOKIE_NAME,
        _serializer(runtime).dumps(session.data),
        max_age=SESSION_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def resolve_user(db: Session, session: PortalSession) -> PortalUser | None:
    """The session's user if they still exist, are active and kept the same password."""
    user_id = session.user_id
    if user_id is None:
        return None
    user = db.get(User, user_id)
    if user is None or not user.active or session.data.get("p") != password_fingerprint(user.password_hash):
        return None
    tenant = db.get(Tenant, user.tenant_id)
    if tenant is None or not tenant.active:
        return None
    return PortalUser(
        user_id=user.id,
        tenant_id=tenant.id,
        tenant_domain=tenant.domain,
        username=user.username,
        roles=frozenset(user.role_names),
    )
