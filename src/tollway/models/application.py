"""Applications, their OAuth key pairs and API keys, and subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import JSONText, UTCDateTime

SUBSCRIPTION_STATES = (
    "UNBLOCKED",
    "BLOCKED",
    "PROD_ONLY_BLOCKED",
    "ON_HOLD",
    "REJECTED",
    "TIER_UPDATE_PENDING",
    "DELETE_PENDING",
)


class Application(IdMixin, TimestampMixin, Base):
    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("tenant_id", "owner_id", "name"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    throttling_policy: Mapped[str] = mapped_column(String(64), default="Unlimited", nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    token_type: Mapped[str] = mapped_column(String(16), default="JWT", nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, nullable=False)
    # APPROVED; CREATED while an application-creation workflow waits, REJECTED after it.
    status: Mapped[str] = mapped_column(String(16), default="APPROVED", nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApplicationKey(IdMixin, TimestampMixin, Base):
    """The consumer key pair of an application for one key type (PRODUCTION / SANDBOX)."""

    __tablename__ = "application_keys"
    __table_args__ = (UniqueConstraint("application_id", "key_type"),)

    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
    )
    key_type: Mapped[str] = mapped_column(String(16), nullable=False)
    client_pk: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False)


class ApiKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "application_id"),)

    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    key_type: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Subscription(IdMixin, TimestampMixin, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("application_id", "api_id"), Index(None, "api_id"))

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
    )
    api_id: Mapped[str] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"), nullable=False)
    policy_id: Mapped[str] = mapped_column(ForeignKey("subscription_policies.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(24), default="UNBLOCKED", nullable=False)
    # Why the status was set (e.g. "payment_failed" from a billing-engine webhook).
    status_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
