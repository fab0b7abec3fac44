"""Prepaid wallets: one per subscriber (user), tenant and currency, and their append-only entries.

An entry is never edited or deleted. Each carries the wallet's running balance after it
(``balance_after``) and its place in the wallet (``sequence``, unique per wallet), so the balance
is read from the last entry instead of summing thousands of rows, and two writers appending at
once collide on the sequence instead of forking the balance (the service also locks the wallet
row). ``reference`` makes an entry idempotent (a Stripe Checkout session, a period's fee, the
consumption settled up to a call count).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import Money, UTCDateTime


class Wallet(IdMixin, TimestampMixin, Base):
    __tablename__ = "wallets"
    __table_args__ = (UniqueConstraint("tenant_id", "owner_id", "currency"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)


class WalletEntry(IdMixin, TimestampMixin, Base):
    __tablename__ = "wallet_entries"
    __table_args__ = (
        UniqueConstraint("wallet_id", "sequence"),
        UniqueConstraint("reference"),
        Index(None, "subscription_id", "period_start"),
    )

    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"), nullable=False)
    tenant_id: Mapped[str] = mapped_column(String(36), nullable=False)
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    # top_up | grant | consumption | fee | refund | expiry | adjustment
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money(), nullable=False)  # signed: credits > 0
    balance_after: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    # Credits only: when what is left of this credit expires (None: never).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str | None] = mapped_column(String(255), nullable=True)  # who made it; None: Tollway
    reference: Mapped[str | None] = mapped_column(String(190), nullable=True)
    # Consumption and fees: the subscription and billing period they pay for; consumption
    # entries also the period's billable calls counted up to and including this entry.
    subscription_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    calls_through: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
