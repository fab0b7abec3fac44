"""Developer portal REST: /subscriptions/{subscriptionId}/spend-cap (the caller's own subscriptions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from tollway.identity.principal import Principal, requires
from tollway.rest.deps import DbSession
from tollway.rest.prefixes import STORE
from tollway.rest.responses import ERRORS
from tollway.wallets import caps
from tollway.wallets.schemas import SpendCapIn, SpendCapOut
from tollway.wallets.service import money_text

router = APIRouter(prefix=STORE + "/subscriptions", tags=["Spend caps"], responses=ERRORS)

Subscriber = Annotated[Principal, Depends(requires("apim:subscribe", "apim:sub_manage"))]
SubscriptionId = Annotated[str, Path(max_length=64)]


def cap_out(found: caps.CapView) -> SpendCapOut:
    cap, default = found.cap, found.plan_default
    amount = cap.amount if cap is not None else default
    return SpendCapOut(
        subscriptionId=found.subscription.id,
        amount=money_text(amount, found.currency) if amount is not None else None,
        mode=cap.mode if cap is not None else ("HARD" if default is not None else None),
        currency=found.currency,
        spent=money_text(found.spent, found.currency),
        periodStart=found.period.start,
        periodEnd=found.period.end,
        setBy=cap.set_by if cap is not None else None,
        source="SUBSCRIPTION" if cap is not None else ("PLAN" if default is not None else None),
    )


@router.get(
    "/{subscriptionId}/spend-cap",
    response_model=SpendCapOut,
    summary="A subscription's spend cap and what the period has cost so far",
)
def get_spend_cap(subscriptionId: SubscriptionId, session: DbSession, caller: Subscriber) -> SpendCapOut:
    return cap_out(caps.view(session, caller, subscriptionId))


@router.put(
    "/{subscriptionId}/spend-cap", response_model=SpendCapOut, summary="Set a subscription's spend cap"
)
def put_spend_cap(
    subscriptionId: SubscriptionId, body: SpendCapIn, session: DbSession, caller: Subscriber
) -> SpendCapOut:
    return cap_out(caps.set_cap(session, caller, subscriptionId, body.amount, body.mode.upper()))


@router.delete(
    "/{subscriptionId}/spend-cap", status_code=200, response_class=Response, summary="Remove a spend cap"
)
def delete_spend_cap(subscriptionId: SubscriptionId, session: DbSession, caller: Subscriber) -> Response:
    caps.remove_cap(session, caller, subscriptionId)
    return Response(status_code=200)
