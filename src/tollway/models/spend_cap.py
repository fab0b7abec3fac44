"""A subscriber's spend cap on a postpaid subscription: what its calls may cost per billing period."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tollway.db.base import Base
from tollway.db.types import Money, UTCDateTime


class SpendCap(Base):
    __tablename__ = "spend_caps"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(String(36), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    # HARD: the gateway refuses (402) the call that would cost more; SOFT: shown, not enforced.
    mode: Mapped[str] = mapped_column(String(8), nullable=False)
    set_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
