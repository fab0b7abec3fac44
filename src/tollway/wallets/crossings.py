"""A threshold crossed in a period, recorded once: the row is unique by (threshold, period), so
two scheduler nodes looking at the same moment emit its event once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tollway.db.base import new_id
from tollway.events import emit
from tollway.models import AlertCrossing


def cross(
    session: Session,
    key: str,
    period: str,
    now: datetime,
    tenant_id: str,
    event_type: str,
    data: dict[str, Any],
    **route: str | None,
) -> bool:
    """Record the crossing and emit its event, unless it was recorded before (here or by another node)."""
    if session.scalar(
        select(AlertCrossing.id).where(AlertCrossing.threshold_key == key, AlertCrossing.period_key == period)
    ):
        return False
    try:
        with session.begin_nested():
            crossing = AlertCrossing(id=new_id(), threshold_key=key, period_key=period, crossed_at=now)
            session.add(crossing)
            session.flush()
            crossing.event_id = emit(session, tenant_id, event_type, data, **route)
    except IntegrityError:
        return False  # another node recorded it first
    return True
