"""Subscription policies (business plans) and their price tiers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import JSONText, Money, UTCDateTime


class SubscriptionPolicy(IdMixin, TimestampMixin, Base):
    __tablename__ = "subscription_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(190), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # defaultLimit: RequestCountLimit | BandwidthLimit
    limit_type: Mapped[str] = mapped_column(String(32), default="RequestCountLimit", nullable=False)
    request_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    data_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    data_unit: Mapped[str | None] = mapped_column(String(8), nullable=True)
    time_unit: Mapped[str] = mapped_column(String(16), default="min", nullable=False)
    unit_time: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    rate_limit_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    rate_limit_time_unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    stop_on_quota_reach: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    billing_plan: Mapped[str] = mapped_column(String(16), default="FREE", nullable=False)
    # Monetization: FixedRate | DynamicRate (None for free plans).
    monetization_plan: Mapped[str | None] = mapped_column(String(16), nullable=True)
    fixed_price: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    price_per_request: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    billing_cycle: Mapped[str | None] = mapped_column(String(8), nullable=True)
    included_requests: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    tier_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # POSTPAID (invoiced after the period) | PREPAID (paid from the subscriber's wallet as used).
    billing_mode: Mapped[str] = mapped_column(String(16), default="POSTPAID", nullable=False)
    # A HARD spend cap per billing period for subscriptions that set none of their own (postpaid,
    # per-call plans; tollway.wallets.caps).
    default_spend_cap: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    # Extra monetization properties and custom attributes, kept as given.
    extra_properties: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, nullable=False)
    custom_attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONText(), default=list, nullable=False)
    # Bumped on every edit: engines version their plans and the gateway reloads limits.
    revision: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    tiers: Mapped[list[PolicyPriceTier]] = relationship(
        cascade="all, delete-orphan",
        order_by="PolicyPriceTier.position",
        lazy="selectin",
        passive_deletes=True,
    )


class PolicyPriceTier(IdMixin, Base):
    __tablename__ = "policy_price_tiers"
    __table_args__ = (UniqueConstraint("policy_id", "position"),)

    policy_id: Mapped[str] = mapped_column(
        ForeignKey("subscription_policies.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    up_to: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    unit_price: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    flat_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), nullable=False)
