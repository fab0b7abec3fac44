"""Developer portal REST: POST /wallets/{currency}/top-ups, buying prepaid credit.

With an engine that takes payments (Stripe: a Checkout Session, ``tollway.billing.stripe.top_ups``)
the answer is the payment page's URL; the wallet is credited when the engine confirms the payment
(its webhook), once. The ledger engine takes no payments: an admin records them
(``POST /api/am/admin/v1/wallets/credits`` with kind ``TOP_UP``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.orm import Session

from tollway.billing.contract import TopUpRequest, top_up_seller
from tollway.errors import BadRequest
from tollway.identity.principal import Principal, requires
from tollway.models import User
from tollway.monetization.schemas import TopUpIn, TopUpOut
from tollway.monetization.service import MonetizationService
from tollway.pricing.currency import minor_unit
from tollway.rest.deps import CurrentRuntime, DbSession
from tollway.rest.prefixes import STORE
from tollway.rest.responses import ERRORS
from tollway.runtime import Runtime
from tollway.wallets.service import currency_of, money_text, parse_amount, user_of

router = APIRouter(prefix=STORE + "/wallets", tags=["Wallets"], responses=ERRORS)

Subscriber = Annotated[Principal, Depends(requires("apim:subscribe"))]
WALLET_PAGE = "/devportal/wallets"


class NoPayments(BadRequest):
    """The billing engine takes no payments (the ledger): an admin records them instead."""


@router.post(
    "/{currency}/top-ups",
    response_model=TopUpOut,
    status_code=201,
    summary="Buy prepaid credit (payment page)",
)
def create_top_up(
    body: TopUpIn,
    request: Request,
    response: Response,
    session: DbSession,
    runtime: CurrentRuntime,
    caller: Subscriber,
    currency: Annotated[str, Path(max_length=3)],
) -> TopUpOut:
    back = str(request.base_url).rstrip("/") + WALLET_PAGE
    made = start_top_up(
        session,
        runtime,
        caller,
        currency,
        body.amount,
        back,
        success_url=body.successUrl,
        cancel_url=body.cancelUrl,
    )
    response.headers["Location"] = made.checkoutUrl
    return made


def start_top_up(
    session: Session,
    runtime: Runtime,
    caller: Principal,
    currency: str,
    amount_text: str,
    wallet_page: str,
    *,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> TopUpOut:
    """Open the engine's payment page for ``amount_text`` of ``currency`` credit (the REST endpoint and
    the developer portal's Buy credit form). ``wallet_page`` (an absolute URL) is where the buyer
    comes back by default. Refusals are 400s naming their field; :class:`NoPayments` with the ledger.
    """
    owner_id = user_of(caller)
    code = currency_of(currency)
    amount = parse_amount(amount_text, "amount", signed=False)
    places = minor_unit(code)
    minor = amount.scaleb(places)
    if minor != minor.to_integral_value():  # "1.001" USD is no whole number of cents; "1.000" is
        allowed = f"at most {places} decimal places" if places else "no decimal places"
        raise BadRequest(
            f"'amount': {allowed} for {code} (payments are made in whole minor units), got {amount_text!r}"
        )
    svc = MonetizationService(runtime)
    seller = top_up_seller(svc.engine)
    if seller is None:
        raise NoPayments(
            f"'currency': the billing engine ({svc.engine.name}) takes no payments: ask the API provider "
            "to record yours (an admin credits the wallet)"
        )
    owner = session.get(User, owner_id)
    top_up = TopUpRequest(
        owner_id=owner_id,
        owner_email=owner.email if owner is not None else None,
        currency=code,
        amount=amount,
        success_url=success_url or f"{wallet_page}?top-up=paid",
        cancel_url=cancel_url or f"{wallet_page}?top-up=canceled",
    )
    with svc.engine_errors():
        checkout = seller.create_top_up(
            svc.call(session, caller.tenant_id, f"topup:{uuid.uuid4().hex}"), top_up
        )
    return TopUpOut(
        sessionId=checkout.session_id,
        checkoutUrl=checkout.url,
        currency=code,
        amount=money_text(amount, code),
    )
