"""The manual's five monetization tables, in Tollway's naming, plus usage-publishing state.

WSO2 name                              -> Tollway table
AM_MONETIZATION                        -> mon_api_tier_plans
AM_POLICY_PLAN_MAPPING                 -> mon_policy_plans
AM_MONETIZATION_PLATFORM_CUSTOMERS     -> mon_platform_customers
AM_MONETIZATION_SHARED_CUSTOMERS       -> mon_shared_customers
AM_MONETIZATION_SUBSCRIPTIONS          -> mon_subscriptions
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import JSONText, UTCDateTime


class MonApiTierPlan(IdMixin, TimestampMixin, Base):
    """API tier -> the engine's product and plan (price) in the publisher's account."""

    __tablename__ = "mon_api_tier_plans"
    __table_args__ = (UniqueConstraint("api_id", "tier_name"),)

    api_id: Mapped[str] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"), nullable=False)
    tier_name: Mapped[str] = mapped_column(String(190), nullable=False)
    policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("subscription_policies.id", ondelete="SET NULL"), nullable=True
    )
    engine_product_id: Mapped[str] = mapped_column(String(255), nullable=False)
    engine_plan_id: Mapped[str] = mapped_column(String(255), nullable=False)
    active: Mapped[bool] = mapped_column(default=True, nullable=False)


class MonPolicyPlan(TimestampMixin, Base):
    """Business plan -> the engine's product and plan in the platform account."""

    __tablename__ = "mon_policy_plans"

    policy_id: Mapped[str] = mapped_column(
        ForeignKey("subscription_policies.id", ondelete="CASCADE"), primary_key=True
    )
    engine_product_id: Mapped[str] = mapped_column(String(255), nullable=False)
    engine_plan_id: Mapped[str] = mapped_column(String(255), nullable=False)
    engine_meter_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MonPlatformCustomer(IdMixin, TimestampMixin, Base):
    """The subscriber's customer in the platform (tenant admin's) account."""

    __tablename__ = "mon_platform_customers"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    engine_customer_id: Mapped[str] = mapped_column(String(255), nullable=False)


class MonSharedCustomer(IdMixin, TimestampMixin, Base):
    """A copy of the platform customer in the publisher's connected account, per application."""

    __tablename__ = "mon_shared_customers"
    __table_args__ = (UniqueConstraint("application_id", "api_provider"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
    )
    api_provider: Mapped[str] = mapped_column(String(190), nullable=False)
    engine_customer_id: Mapped[str] = mapped_column(String(255), nullable=False)
    parent_id: Mapped[str] = mapped_column(
        ForeignKey("mon_platform_customers.id", ondelete="CASCADE"), nullable=False
    )


class MonSubscription(IdMixin, TimestampMixin, Base):
    """The engine's subscription behind a Tollway subscription.

    Kept after the Tollway subscription is deleted: its last period is still invoiced.
    """

    __tablename__ = "mon_subscriptions"
    __table_args__ = (Index(None, "subscription_id"), Index(None, "api_id"))

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    # No foreign key: the Tollway subscription may be deleted while its last period is billed.
    subscription_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    application_id: Mapped[str] = mapped_column(String(36), nullable=False)
    api_id: Mapped[str] = mapped_column(String(36), nullable=False)
    policy_id: Mapped[str] = mapped_column(String(36), nullable=False)
    # The API as the engine saw it at subscription time (provider, ConnectedAccountKey …): later
    # engine calls about this subscription need it even after the API is edited or deleted.
    api_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, nullable=False)
    # Frozen at subscription time like the price (day | week | month | year; WSO2's default month).
    billing_cycle: Mapped[str] = mapped_column(String(8), default="month", nullable=False)
    engine: Mapped[str] = mapped_column(String(64), nullable=False)
    engine_subscription_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    shared_customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("mon_shared_customers.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False)
    plan_type: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Usage up to this instant has been sent to the engine (each subscription its own).
    usage_published_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UsagePublishJob(IdMixin, Base):
    __tablename__ = "usage_publish_jobs"

    state: Mapped[str] = mapped_column(String(16), nullable=False)  # INITIATED | RUNNING | COMPLETED
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # INPROGRESS | SUCCESSFUL | FAILED
    trigger: Mapped[str] = mapped_column(String(16), default="api", nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    published_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    done: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    failed: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class UsagePublishRecord(TimestampMixin, Base):
    """One batch of usage sent to an engine; its key is the idempotency key sent with it."""

    __tablename__ = "usage_publish_records"
    # Publishing reads a subscription's recent records (window_end) and the few pending ones:
    # neither may scan every record a subscription ever had.
    __table_args__ = (Index(None, "mon_subscription_id", "window_end"), Index(None, "state"))

    idempotency_key: Mapped[str] = mapped_column(String(190), primary_key=True)
    mon_subscription_id: Mapped[str] = mapped_column(
        ForeignKey("mon_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    state: Mapped[str] = mapped_column(String(16), default="sent", nullable=False)  # pending | sent


class JobLock(Base):
    """A named lock held in the database so one job runs at a time across processes."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(190), nullable=True)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
