"""Developer portal REST: /alert-thresholds, the caller's own (events go to their webhooks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from sqlalchemy.orm import Session

from tollway.identity.principal import Principal, requires
from tollway.models import AlertThreshold
from tollway.policies.pricing_input import price_text
from tollway.rest.deps import DbSession
from tollway.rest.prefixes import STORE
from tollway.rest.responses import ERRORS
from tollway.wallets import alerts
from tollway.wallets.schemas import AlertThresholdIn, AlertThresholdList, AlertThresholdOut

router = APIRouter(prefix=STORE + "/alert-thresholds", tags=["Alerts"], responses=ERRORS)

Subscriber = Annotated[Principal, Depends(requires("apim:subscribe"))]


def threshold_out(t: AlertThreshold) -> AlertThresholdOut:
    return AlertThresholdOut(
        thresholdId=t.id,
        subject=t.subject,
        currency=t.currency,
        subscriptionId=t.subscription_id,
        percent=price_text(t.percent),
        amount=price_text(t.amount),
        requests=t.requests,
        createdAt=t.created_at,
    )


def add_threshold(session: Session, caller: Principal, body: AlertThresholdIn) -> AlertThresholdOut:
    """A threshold from a checked body (this API's and the developer portal's Alerts form)."""
    made = alerts.create_threshold(
        session,
        caller,
        subject=body.subject,
        currency=body.currency,
        subscription_id=body.subscriptionId,
        percent=body.percent,
        amount=body.amount,
        requests=body.requests,
    )
    return threshold_out(made)


@router.get("", response_model=AlertThresholdList, summary="Your alert thresholds")
def list_thresholds(session: DbSession, caller: Subscriber) -> AlertThresholdList:
    found = [threshold_out(t) for t in alerts.own_thresholds(session, caller)]
    return AlertThresholdList(count=len(found), list=found)


@router.post("", response_model=AlertThresholdOut, status_code=201, summary="Add an alert threshold")
def create_threshold(body: AlertThresholdIn, session: DbSession, caller: Subscriber) -> AlertThresholdOut:
    return add_threshold(session, caller, body)


@router.delete(
    "/{thresholdId}", status_code=200, response_class=Response, summary="Remove an alert threshold"
)
def delete_threshold(
    thresholdId: Annotated[str, Path(max_length=64)], session: DbSession, caller: Subscriber
) -> Response:
    alerts.delete_threshold(session, caller, thresholdId)
    return Response(status_code=200)
