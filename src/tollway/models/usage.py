"""Usage events from the gateway and their hourly rollups per subscription.

No foreign keys on purpose: ingestion is a hot batch path and events outlive the objects
they describe (a deleted subscription's usage is still billed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tollway.db.base import Base
from tollway.db.types import UTCDateTime


class UsageEventRow(Base):
    """A stored ``tollway.metering.events.UsageEvent``: its fields are the columns (``status`` is
    ``status_code``, the time a datetime), checked by tests/metering/test_event_fields.py."""

    __tablename__ = "usage_events"
    __table_args__ = (Index(None, "subscription_id", "time"), Index(None, "time"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    tenant_id: Mapped[str] = mapped_column(String(36), nullable=False)
    api_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    application_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    subscription_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    tier: Mapped[str | None] = mapped_column(String(190), nullable=True)
    status_code: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    billable: Mapped[bool] = mapped_column(Boolean, nullable=False)
    latency_us: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    request_bytes: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    response_bytes: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)


class UsageRollup(Base):
    __tablename__ = "usage_rollups"
    __table_args__ = (Index(None, "api_id", "hour"),)

    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36), nullable=False)
    api_id: Mapped[str] = mapped_column(String(36), nullable=False)
    application_id: Mapped[str] = mapped_column(String(36), nullable=False)
    billable_count: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    total_count: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
