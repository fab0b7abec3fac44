"""Alert thresholds: the signed-in subscriber's own (developer portal).

Thin calls of :mod:`tollway.wallets.alerts` with the same caller, checks and shapes as
``/store/v1/alert-thresholds``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.errors import BadRequest
from tollway.identity.principal import Principal
from tollway.portals.forms import words_for
from tollway.portals.services.common import checked_id, dump, require
from tollway.wallets import alert_endpoints, alerts
from tollway.wallets import service as wallet_service
from tollway.wallets.alert_endpoints import threshold_out
from tollway.wallets.schemas import AMOUNT_PATTERN, AlertThresholdIn

SUBSCRIBER_SCOPE = "apim:subscribe"  # as the alert-threshold endpoints


def my_thresholds(db: Session, principal: Principal) -> list[dict[str, Any]]:
    require(principal, SUBSCRIBER_SCOPE)
    return [dump(threshold_out(t)) for t in alerts.own_thresholds(db, principal)]


def add_threshold(db: Session, principal: Principal, fields: dict[str, str | None]) -> dict[str, Any]:
    """As ``POST …/alert-thresholds``: the body's shape is checked by its schema (400 naming the field)."""
    require(principal, SUBSCRIBER_SCOPE)
    for name in ("percent", "amount"):
        _check_number(fields.get(name), name)
    if fields.get("currency"):
        wallet_service.currency_of(fields["currency"] or "")
    given: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if "requests" in given:  # a form sends text; the REST body a JSON number
        if not re.fullmatch(r"[0-9]{1,15}", str(given["requests"])) or int(given["requests"]) < 1:
            raise BadRequest("'requests': a whole number of calls, 1 or more (e.g. 1000)")
        given["requests"] = int(given["requests"])
    try:
        body = AlertThresholdIn.model_validate(given)
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    return dump(alert_endpoints.add_threshold(db, principal, body))


def _check_number(value: str | None, name: str) -> None:
    """The service's words for a bad number, before the schema's pattern (which names no reason)."""
    if value is None:
        return
    if value.startswith("-"):
        raise BadRequest(f"'{name}': must be more than 0")
    wallet_service.parse_amount(value, name, signed=False)
    if not re.fullmatch(AMOUNT_PATTERN, value):  # e.g. "1e3", which the REST body's schema refuses
        raise BadRequest(f"'{name}': must be written as digits and a decimal point (e.g. 25.00)")


def delete_threshold(db: Session, principal: Principal, threshold_id: str) -> None:
    require(principal, SUBSCRIBER_SCOPE)
    alerts.delete_threshold(db, principal, checked_id(threshold_id))
