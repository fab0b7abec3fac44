"""Prepaid credit bought through Stripe Checkout (a Checkout Session in ``payment`` mode).

Why Checkout and the wallet rather than Stripe's customer balance or Billing credit grants:
Tollway's gateway must know what a subscriber may still spend at every call, across nodes, so
the wallet (``tollway.wallets``) is the record and Stripe only takes the money. The session is
made on the tenant's platform account with one ``price_data`` line of the amount (whole minor
units), the wallet's owner, tenant, currency and amount in its metadata. On
``checkout.session.completed`` the engine reads the session as Stripe has it now and credits the
wallet only when it is ``paid`` and its total is the amount asked; the wallet entry's reference
(``stripe:<session id>``) makes a second delivery of the event change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tollway.billing.contract import EngineRejected, TopUpPaid, TopUpRequest
from tollway.billing.stripe.mapping import from_minor, to_minor

OWNER, TENANT, CURRENCY, AMOUNT = (
    "tollway_wallet_owner",
    "tollway_tenant",
    "tollway_currency",
    "tollway_amount",
)
COMPLETED = "checkout.session.completed"


def checkout_params(request: TopUpRequest, tenant_id: str) -> dict[str, Any]:
    """``checkout.sessions.create`` parameters; an amount of a fraction of a minor unit is refused."""
    minor = Decimal(to_minor(request.amount, request.currency))
    if minor != minor.to_integral_value() or minor <= 0:
        raise EngineRejected(
            "amount", f"Stripe takes whole minor units of {request.currency}: {request.amount} is not one"
        )
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "client_reference_id": request.owner_id,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": int(minor),
                    "product_data": {"name": f"Prepaid API credit ({request.currency})"},
                },
            }
        ],
        "metadata": {
            OWNER: request.owner_id,
            TENANT: tenant_id,
            CURRENCY: request.currency,
            AMOUNT: str(request.amount),
        },
    }
    if request.owner_email:
        params["customer_email"] = request.owner_email
    return params


def paid_top_up(session: Mapping[str, Any], tenant_id: str) -> TopUpPaid | None:
    """The top-up a Checkout Session (as Stripe has it now) pays for; None if it pays for none."""
    metadata = session.get("metadata") or {}
    owner, currency, amount = metadata.get(OWNER), metadata.get(CURRENCY), metadata.get(AMOUNT)
    if not owner or not currency or not amount or metadata.get(TENANT) != tenant_id:
        return None
    if session.get("payment_status") != "paid" or str(session.get("currency") or "").upper() != currency:
        return None
    asked = Decimal(str(amount))
    if from_minor(session.get("amount_total"), currency) != asked:
        return None  # paid something else than the amount asked: an admin looks at it
    return TopUpPaid(
        reference=f"stripe:{session['id']}",
        tenant_id=tenant_id,
        owner_id=str(owner),
        currency=currency,
        amount=asked,
    )
