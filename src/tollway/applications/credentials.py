"""An application's credentials: OAuth2 key pairs (one per key type), access tokens, API keys.

Secrets are shown once, when made: consumer secrets are stored as argon2 hashes, access tokens
and API keys as SHA-256 digests (the gateway keys its credential maps on the same digest).
Application tokens carry only the ``default`` scope: they call APIs through the gateway, never
the control plane.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tollway.applications import repository
from tollway.applications.schemas import (
    MAX_VALIDITY,
    ApiKeyGenerateIn,
    ApiKeyOut,
    ApplicationKeyOut,
    KeyGenerateIn,
    TokenGenerateIn,
    TokenOut,
)
from tollway.applications.service import require_approved
from tollway.db.base import utcnow
from tollway.db.integrity import flush_or_conflict
from tollway.errors import BadRequest, Conflict, NotFound
from tollway.identity.tokens import create_client, issue_tokens
from tollway.models import ApiKey, Application, ApplicationKey, OAuthClient
from tollway.models.changes import mark_gateway_config_changed
from tollway.security.hashing import new_token, token_digest, verify_password

APPLICATION_SCOPES = frozenset({"default"})


def _seconds(value: int | str, field: str) -> int:
    seconds = int(value)  # the schema allows only digits for the text form
    if not 1 <= seconds <= MAX_VALIDITY:
        raise BadRequest(f"'{field}': must be between 1 and {MAX_VALIDITY} seconds")
    return seconds


def _issue(session: Session, client: OAuthClient, app: Application, validity: int) -> TokenOut:
    issued = issue_tokens(
        session,
        client=client,
        user=None,
        scopes=APPLICATION_SCOPES,
        access_ttl=validity,
        refresh_ttl=None,
        application_id=app.id,
    )
    return TokenOut(accessToken=issued.access_token, validityTime=validity, tokenScopes=sorted(issued.scopes))


def generate_keys(session: Session, app: Application, owner: str, body: KeyGenerateIn) -> ApplicationKeyOut:
    """The application's consumer key and secret for the key type, and a first access token."""
    require_approved(app)
    if repository.key_of(session, app.id, body.keyType) is not None:
        raise Conflict(
            f"keys for {body.keyType} are already generated for this application; "
            f"get a new token with POST .../keys/{body.keyType}/generate-token"
        )
    validity = _seconds(body.validityTime, "validityTime")
    grants = list(dict.fromkeys(body.grantTypesToBeSupported))
    client, secret = create_client(
        session,
        tenant_id=app.tenant_id,
        client_name=f"{owner}_{app.name}_{body.keyType}"[:190],
        owner_id=app.owner_id,
        grant_types=" ".join(grants),
        callback_url=body.callbackUrl or None,
        application_id=app.id,
        key_type=body.keyType,
    )
    session.add(ApplicationKey(application_id=app.id, key_type=body.keyType, client_pk=client.id))
    flush_or_conflict(session, f"keys for {body.keyType} are already generated for this application")
    token = _issue(session, client, app, validity)
    mark_gateway_config_changed(session)
    return ApplicationKeyOut(
        keyType=body.keyType,
        consumerKey=client.client_id,
        consumerSecret=secret,
        supportedGrantTypes=grants,
        callbackUrl=client.callback_url,
        token=token,
    )


def _key_out(key: ApplicationKey, client: OAuthClient) -> ApplicationKeyOut:
    return ApplicationKeyOut(
        keyType=key.key_type,
        consumerKey=client.client_id,
        consumerSecret=None,
        supportedGrantTypes=client.grant_types.split(),
        callbackUrl=client.callback_url,
        token=None,
    )


def list_keys(session: Session, app: Application) -> list[ApplicationKeyOut]:
    return [_key_out(key, client) for key, client in repository.keys_with_clients(session, app.id)]


def get_key(session: Session, app: Application, key_type: str) -> ApplicationKeyOut:
    for key, client in repository.keys_with_clients(session, app.id):
        if key.key_type == key_type:
            return _key_out(key, client)
    raise NotFound(f"no {key_type} keys are generated for this application")


def generate_token(session: Session, app: Application, key_type: str, body: TokenGenerateIn) -> TokenOut:
    require_approved(app)
    key = repository.key_of(session, app.id, key_type)
    client = session.get(OAuthClient, key.client_pk) if key is not None else None
    if key is None or client is None:
        raise NotFound(f"no {key_type} keys are generated for this application")
    if client.revoked_at is not None or not verify_password(client.secret_hash, body.consumerSecret):
        raise BadRequest("'consumerSecret': does not match the application's consumer secret")
    if body.revokeToken:
        old = repository.access_token_of_client(session, client.id, body.revokeToken)
        if old is not None and old.revoked_at is None:
            old.revoked_at = utcnow()
            mark_gateway_config_changed(session)  # the gateway re-checks cached tokens when this moves
    return _issue(session, client, app, _seconds(body.validityPeriod, "validityPeriod"))


def generate_api_key(session: Session, app: Application, key_type: str, body: ApiKeyGenerateIn) -> ApiKeyOut:
    require_approved(app)
    if body.validityPeriod == 0:
        raise BadRequest("'validityPeriod': give a number of seconds, or -1 for a key that does not expire")
    key = new_token()
    expires = None if body.validityPeriod < 0 else utcnow() + timedelta(seconds=body.validityPeriod)
    session.add(
        ApiKey(
            application_id=app.id,
            tenant_id=app.tenant_id,
            key_type=key_type,
            key_hash=token_digest(key),
            expires_at=expires,
        )
    )
    session.flush()
    mark_gateway_config_changed(session)
    return ApiKeyOut(apikey=key, validityTime=body.validityPeriod)


def revoke_api_key(session: Session, app: Application, key_type: str, key: str) -> None:
    row = repository.api_key_of(session, app.id, key_type, key)
    if row is None:
        raise NotFound(f"no such {key_type} API key for this application")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        mark_gateway_config_changed(session)
