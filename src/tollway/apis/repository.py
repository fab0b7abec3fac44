"""Queries for APIs, always scoped by tenant."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from tollway.db.ids import is_object_id
from tollway.models import Api, Subscription, SubscriptionPolicy

# ?query=field:value searches these columns; plain text searches names.
SEARCHABLE = {
    "name": Api.name,
    "context": Api.context,
    "version": Api.version,
    "provider": Api.provider,
    "description": Api.description,
}


def get_api(session: Session, tenant_id: str, api_id: str) -> Api | None:
    api = session.get(Api, api_id) if is_object_id(api_id) else None
    if api is None or api.tenant_id != tenant_id:
        return None
    return api


def find_by_context(session: Session, tenant_id: str, context: str, version: str) -> Api | None:
    return session.scalar(
        select(Api).where(Api.tenant_id == tenant_id, Api.context == context, Api.version == version)
    )


def find_by_name(session: Session, tenant_id: str, name: str, version: str) -> Api | None:
    return session.scalar(
        select(Api).where(Api.tenant_id == tenant_id, Api.name == name, Api.version == version)
    )


def _contains(column: ColumnElement[str] | object, text: str) -> ColumnElement[bool]:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def search_condition(query: str | None) -> ColumnElement[bool] | None:
    """WSO2-style search: ``name:pizza``, ``context:/pizza``, ``status:PUBLISHED`` or plain text (name)."""
    if not query or not query.strip():
        return None
    key, sep, value = query.strip().partition(":")
    key = key.strip().lower()
    if sep and key in ("status", "lifecyclestatus"):
        return Api.lifecycle_status == value.strip().upper()
    if sep and key in SEARCHABLE:
        return _contains(SEARCHABLE[key], value.strip())
    return _contains(Api.name, query.strip())


def list_apis(
    session: Session,
    tenant_id: str,
    *,
    query: str | None,
    limit: int,
    offset: int,
    states: Collection[str] | None = None,
) -> tuple[int, Sequence[Api]]:
    conditions: list[ColumnElement[bool]] = [Api.tenant_id == tenant_id]
    if states is not None:
        conditions.append(Api.lifecycle_status.in_(list(states)))
    searched = search_condition(query)
    if searched is not None:
        conditions.append(searched)
    total = session.scalar(select(func.count()).select_from(Api).where(*conditions)) or 0
    rows = session.scalars(
        select(Api).where(*conditions).order_by(Api.name, Api.version, Api.id).limit(limit).offset(offset)
    ).all()
    return int(total), rows


def policies_of(session: Session, api: Api) -> list[SubscriptionPolicy]:
    """The API's business plans, in the order the publisher listed them."""
    ids = [link.policy_id for link in api.policies]
    if not ids:
        return []
    found = {
        p.id: p for p in session.scalars(select(SubscriptionPolicy).where(SubscriptionPolicy.id.in_(ids)))
    }
    return [found[i] for i in ids if i in found]


def subscription_count(session: Session, api_id: str) -> int:
    return int(
        session.scalar(select(func.count()).select_from(Subscription).where(Subscription.api_id == api_id))
        or 0
    )
