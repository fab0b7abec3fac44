"""Checks and conversions every portal service adapter shares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from tollway.db.ids import is_object_id
from tollway.errors import NotFound
from tollway.identity.principal import Principal, check_scopes
from tollway.invoicing import invoices
from tollway.monetization.service import MonetizationService
from tollway.runtime import Runtime


def require(principal: Principal, *scopes: str) -> None:
    """The same scope check the REST endpoint makes for the action, refused in the portal's words."""
    check_scopes(principal, *scopes, refusal="Your account is not allowed to do this.")


def checked_id(value: str) -> str:
    if not is_object_id(value):
        raise NotFound("not found")
    return value


def dump(model: BaseModel) -> dict[str, Any]:
    """A REST response schema as the JSON-shaped dict the templates read."""
    return model.model_dump(mode="json", by_alias=True)


PORTAL_LIST_LIMIT = 500  # the portal lists show one page this long; the REST API pages further


def invoice_or_none(db: Session, runtime: Runtime, subscription_id: str) -> dict[str, Any] | None:
    if invoices.current_row(db, subscription_id) is None:
        return None
    try:
        invoice = invoices.current_invoice(MonetizationService(runtime), db, subscription_id)
    except NotFound:  # the engine has no invoice yet (e.g. nothing received for this period)
        return None
    return invoices.invoice_body(invoice)


def require_subscriber(principal: Principal) -> None:
    require(principal, "apim:subscribe", "apim:app_manage", "apim:sub_manage")
