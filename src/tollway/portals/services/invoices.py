"""Finalized invoices in the portals: the tenant's with their payment state (admin portal), the
signed-in subscriber's history (developer portal). The same calls, callers and shapes as the
REST endpoints ``/admin/v1/invoices`` and ``/store/v1/invoices``; each invoice also names its API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from tollway.applications.service import owner_id
from tollway.errors import BadRequest
from tollway.identity.principal import Principal
from tollway.invoicing import payments
from tollway.invoicing.endpoints import invoice_pdf_response, stored_invoice_out
from tollway.invoicing.schemas import PaymentStatusIn
from tollway.models import Api, Invoice
from tollway.portals.forms import words_for
from tollway.portals.services.common import PORTAL_LIST_LIMIT, checked_id, dump, require
from tollway.runtime import Runtime

ADMIN_SCOPE = "apim:admin"  # as the admin invoice endpoints
SUBSCRIBER_SCOPE = "apim:subscribe"  # as the store invoice endpoints


def _shown(db: Session, rows: Sequence[Invoice], *, for_admin: bool) -> list[dict[str, Any]]:
    api_ids = {row.api_id for row in rows}
    names = (
        {api.id: f"{api.name} {api.version}" for api in db.scalars(select(Api).where(Api.id.in_(api_ids)))}
        if api_ids
        else {}
    )
    shown = []
    for row in rows:
        body = dump(stored_invoice_out(row, for_admin=for_admin))
        body["apiName"] = names.get(row.api_id, "(removed API)")
        shown.append(body)
    return shown


def tenant_invoices(db: Session, principal: Principal, status: str | None = None) -> list[dict[str, Any]]:
    require(principal, ADMIN_SCOPE)
    _, rows = payments.list_invoices(
        db,
        principal.tenant_id,
        status=status,
        subscription_id=None,
        owner_id=None,
        limit=PORTAL_LIST_LIMIT,
        offset=0,
    )
    return _shown(db, rows, for_admin=True)


def tenant_invoice(db: Session, principal: Principal, invoice_id: str) -> dict[str, Any]:
    require(principal, ADMIN_SCOPE)
    invoice = payments.get_invoice(db, principal.tenant_id, checked_id(invoice_id))
    return _shown(db, [invoice], for_admin=True)[0]


def record_payment(
    db: Session, runtime: Runtime, principal: Principal, invoice_id: str, status: str, note: str | None
) -> dict[str, Any]:
    require(principal, ADMIN_SCOPE)
    try:
        body = PaymentStatusIn.model_validate({"status": status, "note": note})
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    invoice = payments.set_payment_status(
        db, runtime.settings.monetization, principal, checked_id(invoice_id), body.status, body.note
    )
    return _shown(db, [invoice], for_admin=True)[0]


def my_invoices(db: Session, principal: Principal) -> list[dict[str, Any]]:
    require(principal, SUBSCRIBER_SCOPE)
    _, rows = payments.list_invoices(
        db,
        principal.tenant_id,
        status=None,
        subscription_id=None,
        owner_id=owner_id(principal),
        limit=PORTAL_LIST_LIMIT,
        offset=0,
    )
    return _shown(db, rows, for_admin=False)


def my_invoice(db: Session, principal: Principal, invoice_id: str) -> dict[str, Any]:
    require(principal, SUBSCRIBER_SCOPE)
    invoice = payments.get_invoice(db, principal.tenant_id, checked_id(invoice_id), owner_id(principal))
    return _shown(db, [invoice], for_admin=False)[0]


def tenant_invoice_pdf(db: Session, principal: Principal, invoice_id: str) -> Response:
    require(principal, ADMIN_SCOPE)
    invoice = payments.get_invoice(db, principal.tenant_id, checked_id(invoice_id))
    return invoice_pdf_response(db, invoice, for_admin=True)


def my_invoice_pdf(db: Session, principal: Principal, invoice_id: str) -> Response:
    require(principal, SUBSCRIBER_SCOPE)
    invoice = payments.get_invoice(db, principal.tenant_id, checked_id(invoice_id), owner_id(principal))
    return invoice_pdf_response(db, invoice, for_admin=False)
