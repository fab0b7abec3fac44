"""Dynamic client registration (WSO2's /client-registration/v0.17/register).

Registering the same ``clientName`` for the same owner again returns the same client id. The
secret is stored only as a hash, so it cannot be shown again: the repeat call gives the client
a fresh secret (the previous one stops working) and records the latest grant types and
callback. Clients serve users of their own tenant only.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollway.db.integrity import flush_or_conflict
from tollway.errors import BadRequest, Forbidden
from tollway.identity import repository
from tollway.identity.principal import qualified_username
from tollway.identity.roles import ROLE_ADMIN
from tollway.identity.schemas import KNOWN_GRANT_TYPES, RegistrationRequest, RegistrationResponse
from tollway.identity.tokens import create_client, rotate_client_secret
from tollway.identity.users import split_login
from tollway.models import OAuthClient, User
from tollway.security.secretbox import SecretBox


def register_client(
    session: Session, box: SecretBox, caller: User, request: RegistrationRequest
) -> RegistrationResponse:
    """Register a client for its owner; the same owner and name again is the same client, with the
    same secret (tools that register on every run keep each other's credentials valid)."""
    grant_types = _grant_types(request.grantType)
    owner = _owner(session, caller, request.owner)
    client = session.scalar(
        select(OAuthClient).where(
            OAuthClient.tenant_id == owner.tenant_id,
            OAuthClient.owner_id == owner.id,
            OAuthClient.client_name == request.clientName,
            OAuthClient.application_id.is_(None),
            OAuthClient.revoked_at.is_(None),
        )
    )
    if client is None:
        client, secret = create_client(
            session,
            tenant_id=owner.tenant_id,
            client_name=request.clientName,
            owner_id=owner.id,
            grant_types=grant_types,
            callback_url=request.callbackUrl,
        )
        client.secret_encrypted = box.encrypt(secret)
    else:
        secret = _kept_secret(box, client)
        client.grant_types = grant_types
        client.callback_url = request.callbackUrl
    client.saas_app = request.saasApp
    flush_or_conflict(session, f"client '{request.clientName}' is being registered by another request")
    return RegistrationResponse(
        clientId=client.client_id,
        clientName=client.client_name,
        callBackURL=client.callback_url,
        clientSecret=secret,
        isSaasApplication=client.saas_app,
        appOwner=qualified_username(owner.username, owner.tenant.domain),
        jsonString=json.dumps(
            {
                "grant_types": grant_types,
                "redirect_uris": client.callback_url or "",
                "client_name": client.client_name,
            }
        ),
    )


def _kept_secret(box: SecretBox, client: OAuthClient) -> str:
    """The client's secret as registered; a client registered before secrets were kept (or whose
    secret the master key no longer opens) gets a new one, kept from now on."""
    if client.secret_encrypted:
        try:
            return box.decrypt(client.secret_encrypted)
        except ValueError:
            pass
    secret = rotate_client_secret(client)
    client.secret_encrypted = box.encrypt(secret)
    return secret


def _grant_types(text: str) -> str:
    names = text.split()
    if not names:
        raise BadRequest("'grantType': name at least one grant type, e.g. \"password refresh_token\"")
    unknown = [name for name in names if name not in KNOWN_GRANT_TYPES]
    if unknown:
        raise BadRequest(f"'grantType': unknown grant type '{unknown[0]}'")
    return " ".join(dict.fromkeys(names))


def _owner(session: Session, caller: User, owner: str | None) -> User:
    """The caller, or, when the caller is an admin, another user of the caller's tenant."""
    if owner is None:
        return caller
    name, domain = split_login(owner) if "@" in owner else (owner, caller.tenant.domain)
    if domain == caller.tenant.domain and name == caller.username:
        return caller
    if ROLE_ADMIN not in caller.role_names:
        raise Forbidden("'owner': only an admin may register a client for another user")
    user = (
        repository.user_by_name(session, caller.tenant_id, name) if domain == caller.tenant.domain else None
    )
    if user is None or not user.active:
        raise BadRequest(f"'owner': no active user '{owner}' in tenant '{caller.tenant.domain}'")
    return user
