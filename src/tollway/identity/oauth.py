"""The OAuth2 token endpoint's grants (RFC 6749) and token revocation (RFC 7009).

Grants: ``password``, ``client_credentials`` and ``refresh_token``. Granted scope = requested
scope ∩ what the user's roles allow; when nothing is left (or nothing was asked for) the token
gets WSO2's ``default`` scope, which no API requires, so it opens nothing privileged.

``client_credentials`` acts as the client's owner (WSO2's behaviour): a registered client gets
its owner's scopes, an application's consumer key pair gets a token bound to that application
(``OAuthToken.application_id``), which is what the gateway accepts.

Refresh tokens rotate: each use revokes the presented refresh token and issues a new pair in
the same family. Presenting an already used (revoked) refresh token means it leaked, so the
whole family is revoked (RFC 6749 10.4; OAuth 2.0 Security BCP 4.14).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tollway.config import ServerSettings
from tollway.db.base import utcnow
from tollway.identity.http_basic import BASIC_REALM, MalformedBasic, basic_credentials
from tollway.identity.principal import DEFAULT_SCOPE, user_scopes
from tollway.identity.tokens import (
    IssuedTokens,
    authenticate_client,
    issue_tokens,
    revoke_family,
    revoke_tokens,
)
from tollway.identity.users import authenticate
from tollway.models import OAuthClient, OAuthToken, Tenant, User
from tollway.security.hashing import token_digest

SUPPORTED_GRANTS = ("password", "client_credentials", "refresh_token")
# RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# RFC 6749 5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class OAuthError(Exception):
    """An error answered as RFC 6749 5.2 ``{"error","error_description"}``."""

    error: str
    description: str
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={**NO_STORE, **self.headers},
        )


def invalid_client(description: str) -> OAuthError:
    # RFC 6749 5.2: 401 with the scheme the client may use.
    return OAuthError("invalid_client", description, 401, {"WWW-Authenticate": BASIC_REALM})


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """The form parameters; blank ones count as absent, repeated ones are refused (RFC 6749 3.1)."""
    media_type = (content_type or FORM_CONTENT_TYPE).split(";")[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise OAuthError("invalid_request", f"the body must be {FORM_CONTENT_TYPE}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"the parameter '{name}' is given more than once")
        form[name] = value
    return {name: value for name, value in form.items() if value != ""}


def authenticate_client_request(
    session: Session, authorization: str | None, form: dict[str, str]
) -> OAuthClient:
    """The client, by HTTP Basic or by ``client_id``/``client_secret`` form fields (RFC 6749 2.3.1)."""
    try:
        basic = basic_credentials(authorization)
    except MalformedBasic as exc:
        raise invalid_client(str(exc)) from None
    if basic is not None:
        if "client_secret" in form:
            raise OAuthError("invalid_request", "authenticate the client by one method only")
        # The client id and secret are form-encoded before base64 (RFC 6749 2.3.1).
        client_id, secret = unquote_plus(basic[0]), unquote_plus(basic[1])
        if form.get("client_id", client_id) != client_id:
            raise OAuthError("invalid_request", "client_id differs from the authenticated client")
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            raise invalid_client("client authentication is required (HTTP Basic or client_id/client_secret)")
    client = authenticate_client(session, client_id, secret)
    if client is None:
        raise invalid_client("unknown client or wrong client secret")
    tenant = session.get(Tenant, client.tenant_id)
    if tenant is None or not tenant.active:
        raise invalid_client("the client's tenant is deactivated")
    return client


def requested_scopes(form: dict[str, str]) -> frozenset[str] | None:
    text = form.get("scope")
    if text is None:
        return None
    scopes = frozenset(text.split(" ")) - {""}
    bad = sorted(s for s in scopes if not _SCOPE_TOKEN.fullmatch(s))
    if bad:
        raise OAuthError("invalid_scope", f"malformed scope {bad[0]!r}")
    return scopes


def grant_scopes(requested: frozenset[str] | None, allowed: frozenset[str]) -> frozenset[str]:
    granted = (requested or frozenset()) & allowed
    return granted or frozenset({DEFAULT_SCOPE})


def exchange(
    session: Session, server: ServerSettings, client: OAuthClient, form: dict[str, str]
) -> IssuedTokens:
    """Run the grant named by ``grant_type`` for an authenticated client."""
    grant = form.get("grant_type")
    if grant is None:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant not in SUPPORTED_GRANTS:
        raise OAuthError("unsupported_grant_type", f"grant type '{grant}' is not supported")
    if grant not in client.grant_types.split():
        raise OAuthError("unauthorized_client", f"the client may not use the grant type '{grant}'")
    if grant == "password":
        return _password_grant(session, server, client, form)
    if grant == "client_credentials":
        return _client_credentials_grant(session, server, client, form)
    return _refresh_grant(session, server, client, form)


def _refresh_ttl(server: ServerSettings, client: OAuthClient) -> int | None:
    return server.refresh_token_ttl if "refresh_token" in client.grant_types.split() else None


def _password_grant(
    session: Session, server: ServerSettings, client: OAuthClient, form: dict[str, str]
) -> IssuedTokens:
    username, password = form.get("username"), form.get("password")
    if username is None or password is None:
        raise OAuthError("invalid_request", "username and password are required")
    scopes = requested_scopes(form)
    user = authenticate(session, username, password)
    if user is None:
        raise OAuthError("invalid_grant", "wrong user name or password")
    if user.tenant_id != client.tenant_id:
        raise OAuthError("invalid_grant", "the user is not in the client's tenant")
    return issue_tokens(
        session,
        client=client,
        user=user,
        scopes=grant_scopes(scopes, user_scopes(user, user.tenant)),
        access_ttl=server.access_token_ttl,
        refresh_ttl=_refresh_ttl(server, client),
    )


def _client_credentials_grant(
    session: Session, server: ServerSettings, client: OAuthClient, form: dict[str, str]
) -> IssuedTokens:
    scopes = requested_scopes(form)
    owner = session.get(User, client.owner_id) if client.owner_id else None
    if owner is not None and not owner.active:
        raise OAuthError("invalid_grant", "the client's owner is deactivated")
    allowed = user_scopes(owner, owner.tenant) if owner else frozenset({DEFAULT_SCOPE})
    # No refresh token: the client can always ask again with its credentials (RFC 6749 4.4.3).
    return issue_tokens(
        session,
        client=client,
        user=owner,
        scopes=grant_scopes(scopes, allowed),
        access_ttl=server.access_token_ttl,
        refresh_ttl=None,
    )


def _refresh_grant(
    session: Session, server: ServerSettings, client: OAuthClient, form: dict[str, str]
) -> IssuedTokens:
    presented = form.get("refresh_token")
    if presented is None:
        raise OAuthError("invalid_request", "refresh_token is required")
    scopes = requested_scopes(form)
    row = session.scalar(select(OAuthToken).where(OAuthToken.token_hash == token_digest(presented)))
    if row is None or row.kind != "refresh" or row.client_pk != client.id:
        raise OAuthError("invalid_grant", "unknown refresh token")
    if row.revoked_at is not None:
        _revoke_reused(session, row)
    if row.expires_at <= utcnow():
        raise OAuthError("invalid_grant", "the refresh token has expired")
    user = session.get(User, row.user_id) if row.user_id else None
    if row.user_id and (user is None or not user.active or not user.tenant.active):
        raise OAuthError("invalid_grant", "the token's user is deactivated")
    original = frozenset(row.scopes.split())
    if scopes is not None and not scopes <= original:
        raise OAuthError("invalid_scope", "a refreshed token cannot have scopes the original did not have")
    # Compare-and-set, so of two requests racing with one refresh token only one wins.
    used = session.execute(
        update(OAuthToken)
        .where(OAuthToken.id == row.id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        _revoke_reused(session, row)
    allowed = user_scopes(user, user.tenant) if user else frozenset({DEFAULT_SCOPE})
    return issue_tokens(
        session,
        client=client,
        user=user,
        scopes=grant_scopes(scopes if scopes is not None else original, allowed),
        access_ttl=server.access_token_ttl,
        refresh_ttl=server.refresh_token_ttl,
        application_id=row.application_id,
        family_id=row.family_id,
    )


def _revoke_reused(session: Session, row: OAuthToken) -> None:
    """Revoke the grant of a refresh token presented twice; the caller's response commits this."""
    if row.family_id:
        revoke_family(session, row.family_id)
    raise OAuthError("invalid_grant", "the refresh token was already used; the grant is revoked")


def revoke(session: Session, client: OAuthClient, form: dict[str, str]) -> None:
    """RFC 7009. Unknown tokens are not an error; revoking a refresh token revokes its grant.

    ``token_type_hint`` is not needed: both kinds live in one table keyed by digest.
    """
    token = form.get("token")
    if token is None:
        raise OAuthError("invalid_request", "token is required")
    row = session.scalar(select(OAuthToken).where(OAuthToken.token_hash == token_digest(token)))
    if row is None:
        return
    if row.client_pk != client.id:
        raise OAuthError("invalid_grant", "the token was issued to another client")
    if row.kind == "refresh" and row.family_id:
        revoke_family(session, row.family_id)
    else:
        revoke_tokens(session, OAuthToken.id == row.id)
