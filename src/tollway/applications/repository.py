"""Queries for applications and their credentials, scoped by tenant and owner."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tollway.db.ids import is_object_id
from tollway.models import ApiKey, Application, ApplicationKey, OAuthClient, OAuthToken, Subscription
from tollway.security.hashing import token_digest


def get_owned(session: Session, tenant_id: str, owner_id: str, application_id: str) -> Application | None:
    app = session.get(Application, application_id) if is_object_id(application_id) else None
    if app is None or app.tenant_id != tenant_id or app.owner_id != owner_id:
        return None
    return app


def find_by_name(session: Session, tenant_id: str, owner_id: str, name: str) -> Application | None:
    return session.scalar(
        select(Application).where(
            Application.tenant_id == tenant_id, Application.owner_id == owner_id, Application.name == name
        )
    )


def list_owned(
    session: Session, tenant_id: str, owner_id: str, *, query: str | None, limit: int, offset: int
) -> tuple[int, Sequence[Application]]:
    conditions = [Application.tenant_id == tenant_id, Application.owner_id == owner_id]
    if query:
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(func.lower(Application.name).like(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(Application).where(*conditions)) or 0
    rows = session.scalars(
        select(Application)
        .where(*conditions)
        .order_by(Application.name, Application.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total), rows


def subscription_counts(session: Session, application_ids: Sequence[str]) -> dict[str, int]:
    if not application_ids:
        return {}
    rows = session.execute(
        select(Subscription.application_id, func.count())
        .where(Subscription.application_id.in_(list(application_ids)))
        .group_by(Subscription.application_id)
    )
    return {app_id: int(count) for app_id, count in rows}


def subscriptions_of(session: Session, application_id: str) -> Sequence[Subscription]:
    return session.scalars(select(Subscription).where(Subscription.application_id == application_id)).all()


def key_of(session: Session, application_id: str, key_type: str) -> ApplicationKey | None:
    return session.scalar(
        select(ApplicationKey).where(
            ApplicationKey.application_id == application_id, ApplicationKey.key_type == key_type
        )
    )


def keys_with_clients(session: Session, application_id: str) -> list[tuple[ApplicationKey, OAuthClient]]:
    rows = session.execute(
        select(ApplicationKey, OAuthClient)
        .join(OAuthClient, OAuthClient.id == ApplicationKey.client_pk)
        .where(ApplicationKey.application_id == application_id)
        .order_by(ApplicationKey.key_type)
    )
    return [(key, client) for key, client in rows.tuples()]


def access_token_of_client(session: Session, client_pk: str, token: str) -> OAuthToken | None:
    return session.scalar(
        select(OAuthToken).where(
            OAuthToken.token_hash == token_digest(token),
            OAuthToken.client_pk == client_pk,
            OAuthToken.kind == "access",
        )
    )


def api_key_of(session: Session, application_id: str, key_type: str, key: str) -> ApiKey | None:
    return session.scalar(
        select(ApiKey).where(
            ApiKey.key_hash == token_digest(key),
            ApiKey.application_id == application_id,
            ApiKey.key_type == key_type,
        )
    )
