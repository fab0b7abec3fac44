"""Prepaid wallets: the subscriber's own and buying credit (developer portal), the tenant's and
credits (admin portal), grants and the subscribers' wallets (publisher portal).

Thin calls of :mod:`tollway.wallets.service`, with the same callers, checks and response shapes
as the wallet REST endpoints (``/store/v1/wallets``, ``/admin/v1/wallets``, ``/publisher/v1/wallets``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.errors import BadRequest, NotFound
from tollway.identity.principal import Principal
from tollway.models import Wallet
from tollway.monetization.top_ups import start_top_up
from tollway.portals.forms import words_for
from tollway.portals.services.common import PORTAL_LIST_LIMIT, checked_id, dump, require
from tollway.runtime import Runtime
from tollway.wallets import caps
from tollway.wallets import service as wallet_service
from tollway.wallets.cap_endpoints import cap_out
from tollway.wallets.schemas import AMOUNT_PATTERN, GRANT, SIGNED_AMOUNT_PATTERN, CreditIn, GrantIn

ADMIN_SCOPE = "apim:admin"  # as the admin wallet endpoints
SUBSCRIBER_SCOPE = "apim:subscribe"  # as the store wallet endpoints
PUBLISHER_SCOPE = "apim:api_publish"  # as the publisher credit endpoint


def _wallet(db: Session, principal: Principal, wallet: Wallet) -> dict[str, Any]:
    return dump(wallet_service.wallet_out(wallet_service.views(db, principal.tenant_domain, [wallet])[0]))


def _entries(db: Session, principal: Principal, wallet: Wallet, limit: int) -> dict[str, Any]:
    """The wallet's newest entries (``limit`` of them) and how many it has in all."""
    total, rows, left = wallet_service.entries_page(db, wallet, limit=limit, offset=0)
    items = [dump(wallet_service.entry_out(row, wallet.currency, principal.tenant_id, left)) for row in rows]
    return {"total": total, "list": items}


# ---------------------------------------------------------------------------------------------
# Developer portal: the signed-in subscriber's own wallets


def my_wallets(db: Session, principal: Principal, *, entries: int = 0) -> list[dict[str, Any]]:
    """The caller's wallets (oldest first), each with its ``entries`` newest entries."""
    require(principal, SUBSCRIBER_SCOPE)
    _, rows = wallet_service.list_wallets(db, principal.tenant_id, owner_id=wallet_service.user_of(principal))
    found = []
    for wallet, view in zip(rows, wallet_service.views(db, principal.tenant_domain, rows), strict=True):
        body = dump(wallet_service.wallet_out(view))
        body["entries"] = _entries(db, principal, wallet, entries) if entries else {"total": 0, "list": []}
        found.append(body)
    return found


def my_wallet(db: Session, principal: Principal, currency: str) -> dict[str, Any]:
    """The caller's wallet in ``currency`` with its newest entries; not found unless they have one."""
    require(principal, SUBSCRIBER_SCOPE)
    try:
        wallet = wallet_service.own_wallet(db, principal, currency)
    except BadRequest:  # not a currency code: no wallet of theirs either
        raise NotFound("not found") from None
    return {**_wallet(db, principal, wallet), "entries": _entries(db, principal, wallet, PORTAL_LIST_LIMIT)}


# ---------------------------------------------------------------------------------------------
# Admin portal: the tenant's wallets and credits


def tenant_wallets(db: Session, principal: Principal) -> list[dict[str, Any]]:
    require(principal, ADMIN_SCOPE)
    _, rows = wallet_service.list_wallets(db, principal.tenant_id, limit=PORTAL_LIST_LIMIT)
    views = wallet_service.views(db, principal.tenant_domain, rows)
    return [dump(wallet_service.wallet_out(view)) for view in views]


def tenant_wallet(db: Session, principal: Principal, wallet_id: str) -> dict[str, Any]:
    require(principal, ADMIN_SCOPE)
    wallet = wallet_service.get_wallet(db, principal.tenant_id, checked_id(wallet_id))
    return {**_wallet(db, principal, wallet), "entries": _entries(db, principal, wallet, PORTAL_LIST_LIMIT)}


def expiry_of(text: str) -> str | None:
    """A form's expiry date (YYYY-MM-DD) as the REST body's date-time: the start of that day, UTC."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'expiresAt': must be a date as YYYY-MM-DD, got {text[:40]!r}") from None
    return datetime.combine(day, time(0), tzinfo=UTC).isoformat()


def credit(db: Session, principal: Principal, fields: dict[str, str | None]) -> dict[str, Any]:
    """Credit a wallet as ``POST /admin/v1/wallets/credits`` does, from the credit form's fields.

    Refusals are 400s whose message starts with the field it is about (``'amount': ...``). The
    answer: the entry, the wallet after it, and whether it was made now (False: the same form was
    sent twice and its reference found the entry already made).
    """
    require(principal, ADMIN_SCOPE)
    return _credited(db, principal, fields, CreditIn)


def grant(db: Session, principal: Principal, fields: dict[str, str | None]) -> dict[str, Any]:
    """Grant credit as ``POST /publisher/v1/wallets/credits`` does (a GRANT, to a user of the tenant),
    from the publisher's grant form; refusals and the answer as :func:`credit`."""
    require(principal, PUBLISHER_SCOPE)
    return _credited(db, principal, {**fields, "kind": GRANT}, GrantIn)


def _credited(
    db: Session, principal: Principal, fields: dict[str, str | None], schema: type[GrantIn]
) -> dict[str, Any]:
    body_fields = {k: v for k, v in fields.items() if v is not None}
    amount, kind = body_fields.get("amount"), body_fields.get("kind") or GRANT
    signed = kind.upper() == "ADJUSTMENT"
    if amount and amount.startswith("-") and not signed:
        only = " (only an ADJUSTMENT may be negative)" if schema is CreditIn else ""
        raise BadRequest(f"'amount': must be more than 0{only}")
    if amount:
        # The service's own check, first: its words, not the schema's pattern.
        wallet_service.parse_amount(amount, "amount", signed=signed)
        if not re.fullmatch(SIGNED_AMOUNT_PATTERN, amount):  # e.g. "1e3", which the schema refuses
            raise BadRequest(
                f"'amount': must be written as digits and a decimal point (e.g. 25.00), got {amount!r}"
            )
    if body_fields.get("currency"):
        wallet_service.currency_of(body_fields["currency"])
    try:
        body = schema.model_validate(body_fields)
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    made = wallet_service.credit(db, principal, body)
    left: dict[str, Decimal] = {}
    if not made.created:
        left = wallet_service.credits_left(db, made.wallet.id)
    entry = dump(wallet_service.entry_out(made.entry, made.wallet.currency, principal.tenant_id, left))
    return {"entry": entry, "wallet": _wallet(db, principal, made.wallet), "created": made.created}


# ---------------------------------------------------------------------------------------------
# Publisher portal: the wallets of the tenant's subscribers (grants: :func:`grant`)


def subscriber_wallets(db: Session, principal: Principal) -> list[dict[str, Any]]:
    """The wallets of users who subscribe to the tenant's APIs, oldest first."""
    require(principal, PUBLISHER_SCOPE)
    rows = wallet_service.subscriber_wallets(db, principal.tenant_id, limit=PORTAL_LIST_LIMIT)
    return [
        dump(wallet_service.wallet_out(view))
        for view in wallet_service.views(db, principal.tenant_domain, rows)
    ]


# ---------------------------------------------------------------------------------------------
# Developer portal: buying credit


def buy_credit(
    db: Session, runtime: Runtime, principal: Principal, currency: str, amount: str, wallet_page: str
) -> dict[str, Any]:
    """Start buying credit as ``POST /store/v1/wallets/{currency}/top-ups`` does: the answer's
    ``checkoutUrl`` is the engine's payment page. Refusals are 400s naming 'amount' or 'currency';
    :class:`~tollway.monetization.top_ups.NoPayments` when the engine takes no payments (the ledger).
    """
    require(principal, SUBSCRIBER_SCOPE)
    if not currency:
        raise BadRequest("'currency': is required")
    if not amount:
        raise BadRequest("'amount': is required")
    if amount.startswith("-"):
        raise BadRequest("'amount': must be more than 0")
    wallet_service.parse_amount(amount, "amount", signed=False)  # the service's words first
    if not re.fullmatch(AMOUNT_PATTERN, amount):  # e.g. "1e3", which the REST body's schema refuses
        raise BadRequest(
            f"'amount': must be written as digits and a decimal point (e.g. 25.00), got {amount!r}"
        )
    return dump(start_top_up(db, runtime, principal, currency, amount, wallet_page))


def my_prepaid_currencies(db: Session, principal: Principal) -> list[str]:
    """The currencies of the caller's subscriptions on prepaid plans (their wallets pay for those)."""
    require(principal, SUBSCRIBER_SCOPE)
    return wallet_service.prepaid_currencies(db, principal.tenant_id, wallet_service.user_of(principal))


# ---------------------------------------------------------------------------------------------
# Developer portal: spend caps on the subscriber's own postpaid subscriptions


def my_spend_cap(db: Session, principal: Principal, subscription_id: str) -> dict[str, Any] | None:
    """The subscription's cap and the period's spend, as ``GET …/spend-cap``; None when its plan
    charges nothing per call or is prepaid (there is nothing to cap)."""
    require(principal, SUBSCRIBER_SCOPE)
    try:
        found = caps.view(db, principal, checked_id(subscription_id))
    except BadRequest:
        return None
    return dump(cap_out(found))


def set_my_spend_cap(db: Session, principal: Principal, subscription_id: str, amount: str, mode: str) -> None:
    """As ``PUT …/spend-cap``: the amount is checked like the REST body's (400 naming 'amount')."""
    require(principal, SUBSCRIBER_SCOPE)
    chosen = (mode or "HARD").upper()
    if chosen not in caps.MODES:
        raise BadRequest(f"'mode': must be one of {', '.join(caps.MODES)}")
    caps.set_cap(db, principal, checked_id(subscription_id), amount.strip(), chosen)


def remove_my_spend_cap(db: Session, principal: Principal, subscription_id: str) -> None:
    require(principal, SUBSCRIBER_SCOPE)
    caps.remove_cap(db, principal, checked_id(subscription_id))
