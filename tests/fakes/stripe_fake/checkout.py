"""Checkout Sessions in ``payment`` mode with ``price_data`` line items (one-off payments, e.g. a
prepaid top-up). The fake's payments always succeed: :meth:`StripeFake.complete_checkout_session`
plays the customer paying on the hosted page."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from .billing import unmodelled
from .errors import missing_parameter, no_such, param_error
from .fixtures import template
from .ids import new_id
from .rendering import apply_metadata
from .state import Ctx, Obj

MODELLED = frozenset(
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "metadata",
        "customer",
        "customer_email",
        "expand",
    }
)


def create_session(ctx: Ctx, params: dict[str, Any]) -> Obj:
    for key in params:
        if key not in MODELLED:
            raise unmodelled(key)
    if params.get("mode") != "payment":
        raise unmodelled("mode")  # subscription and setup sessions are not modelled
    if "success_url" not in params:
        raise missing_parameter("success_url")
    items = params.get("line_items") or []
    if not items:
        raise missing_parameter("line_items")
    currency, total = None, Decimal(0)
    for index, item in enumerate(items):
        data = item.get("price_data")
        if data is None:
            raise unmodelled(f"line_items[{index}][price]")
        if "product_data" not in data:
            raise unmodelled(f"line_items[{index}][price_data][product]")
        if "unit_amount" not in data:
            raise missing_parameter(f"line_items[{index}][price_data][unit_amount]")
        if currency is not None and data["currency"] != currency:
            raise param_error("All line items must share one currency.", param=f"line_items[{index}]")
        currency = data["currency"]
        total += Decimal(int(data["unit_amount"])) * int(item.get("quantity") or 1)
    if params.get("customer") and params["customer"] not in ctx.account.customers:
        raise no_such("customer", params["customer"], param="customer", status=400)
    session = template("checkout.session")
    session_id = new_id("cs_test")
    session.update(
        id=session_id,
        object="checkout.session",
        mode="payment",
        status="open",
        payment_status="unpaid",
        currency=currency,
        amount_subtotal=int(total),
        amount_total=int(total),
        created=ctx.now,
        expires_at=ctx.now + 24 * 3600,
        success_url=params["success_url"],
        cancel_url=params.get("cancel_url"),
        client_reference_id=params.get("client_reference_id"),
        customer=params.get("customer"),
        customer_email=params.get("customer_email"),
        metadata=apply_metadata({}, params.get("metadata") or {}),
        livemode=ctx.account.livemode,
        payment_intent=None,
        url=f"https://checkout.stripe.com/c/pay/{session_id}",
    )
    session.setdefault("checkout_sessions_line_items", None)
    session.pop("checkout_sessions_line_items")
    ctx.account.checkout_sessions[session_id] = session
    return copy.deepcopy(session)


def retrieve_session(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    session = ctx.account.checkout_sessions.get(id)
    if session is None:
        raise no_such("checkout.session", id)
    return copy.deepcopy(session)


def complete(account_sessions: dict[str, Obj], session_id: str, now: int) -> Obj:
    """The customer paid: ``complete`` / ``paid``, with a payment intent; the session as Stripe sends it."""
    session = account_sessions[session_id]
    session.update(status="complete", payment_status="paid", payment_intent=new_id("pi"))
    return copy.deepcopy(session)
