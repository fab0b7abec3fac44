"""Issuing and checking OAuth2 clients and opaque bearer tokens.

Tokens are 256-bit random strings; only their SHA-256 digest is stored (see security.hashing).
Opaque tokens rather than JWTs: revocation must reach the gateway within a second, and the
gateway keys its in-memory credential map on the same digest, so no signature check is needed
per request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from tollway.db.base import new_id, utcnow
from tollway.models import Application, OAuthClient, OAuthToken, User
from tollway.models.changes import mark_gateway_config_changed
from tollway.security.hashing import hash_password, new_token, token_digest, verify_password


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    expires_in: int
    scopes: frozenset[str]

    def as_oauth_response(self) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": self.access_token,
            "scope": " ".join(sorted(self.scopes)),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return body


def create_client(
    session: Session,
    *,
    tenant_id: str,
    client_name: str,
    owner_id: str | None,
    grant_types: str,
    callback_url: str | None = None,
    application_id: str | None = None,
    key_type: str | None = None,
) -> tuple[OAuthClient, str]:
    """Create a client; returns it with its plain secret (shown once, stored hashed)."""
    secret = secrets.token_urlsafe(24)
    client = OAuthClient(
        tenant_id=tenant_id,
        client_id=secrets.token_urlsafe(18),
        secret_hash=hash_password(secret),
        client_name=client_name,
        owner_id=owner_id,
        grant_types=grant_types,
        callback_url=callback_url,
        application_id=application_id,
        key_type=key_type,
    )
    session.add(client)
    session.flush()
    return client, secret


def rotate_client_secret(client: OAuthClient) -> str:
    """Give ``client`` a new secret (the old one stops working); returns it in plain, once."""
    secret = secrets.token_urlsafe(24)
    client.secret_hash = hash_password(secret)
    return secret


def authenticate_client(session: Session, client_id: str, client_secret: str) -> OAuthClient | None:
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or client.revoked_at is not None:
        # Same work either way so timing does not reveal which client ids exist.
        verify_password(_DUMMY_HASH, client_secret)
        return None
    if not verify_password(client.secret_hash, client_secret):
        return None
    return client


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def issue_tokens(
    session: Session,
    *,
    client: OAuthClient,
    user: User | None,
    scopes: frozenset[str],
    access_ttl: int,
    refresh_ttl: int | None,
    application_id: str | None = None,
    family_id: str | None = None,
) -> IssuedTokens:
    """Store a new access token (and refresh token when ``refresh_ttl`` is given)."""
    now = utcnow()
    family = family_id or new_id()
    scope_text = " ".join(sorted(scopes))
    access = new_token()
    session.add(
        OAuthToken(
            token_hash=token_digest(access),
            kind="access",
            tenant_id=client.tenant_id,
            client_pk=client.id,
            user_id=user.id if user else None,
            application_id=application_id or client.application_id,
            scopes=scope_text,
            expires_at=now + timedelta(seconds=access_ttl),
            family_id=family,
        )
    )
    refresh: str | None = None
    if refresh_ttl:
        refresh = new_token()
        session.add(
            OAuthToken(
                token_hash=token_digest(refresh),
                kind="refresh",
                tenant_id=client.tenant_id,
                client_pk=client.id,
                user_id=user.id if user else None,
                application_id=application_id or client.application_id,
                scopes=scope_text,
                expires_at=now + timedelta(seconds=refresh_ttl),
                family_id=family,
            )
        )
    session.flush()
    return IssuedTokens(access, refresh, access_ttl, scopes)


def find_active_token(session: Session, token: str, kind: str = "access") -> OAuthToken | None:
    row = session.scalar(select(OAuthToken).where(OAuthToken.token_hash == token_digest(token)))
    if row is None or row.kind != kind or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return row


def revoke_tokens(session: Session, *where: ColumnElement[bool]) -> int:
    """Revoke every live token matching ``where``; the gateway reloads its credentials if any was."""
    result = session.execute(
        update(OAuthToken)
        .where(OAuthToken.revoked_at.is_(None), *where)
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        mark_gateway_config_changed(session)
    return count


def revoke_family(session: Session, family_id: str) -> int:
    """A grant's refresh and access tokens (RFC 6749 10.4, RFC 7009 2.1)."""
    return revoke_tokens(session, OAuthToken.family_id == family_id)


def revoke_user_tokens(session: Session, user_id: str) -> int:
    """The user's tokens and those bound to the user's applications."""
    owned = select(Application.id).where(Application.owner_id == user_id)
    return revoke_tokens(session, (OAuthToken.user_id == user_id) | OAuthToken.application_id.in_(owned))


def revoke_tenant_tokens(session: Session, tenant_id: str) -> int:
    return revoke_tokens(session, OAuthToken.tenant_id == tenant_id)
