"""Change signal for the gateway's in-memory snapshot.

Every write that changes what the gateway enforces (APIs, plans, applications' credentials,
subscriptions) calls :func:`mark_gateway_config_changed` in the same transaction. Gateways poll
the counter (one indexed read every few hundred milliseconds, never per request) and reload
when it moves.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tollway.db.base import utcnow
from tollway.models.config_version import ConfigVersion

GATEWAY = "gateway"


def mark_gateway_config_changed(session: Session) -> None:
    result = session.execute(
        update(ConfigVersion)
        .where(ConfigVersion.name == GATEWAY)
        .values(version=ConfigVersion.version + 1, updated_at=utcnow())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(ConfigVersion(name=GATEWAY, version=1, updated_at=utcnow()))
        session.flush()


def gateway_config_version(session: Session) -> int:
    value = session.scalar(select(ConfigVersion.version).where(ConfigVersion.name == GATEWAY))
    return int(value or 0)
