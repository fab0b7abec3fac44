"""APIs, their attached business plans and monetization settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import JSONText, UTCDateTime

LIFECYCLE_STATES = ("CREATED", "PROTOTYPED", "PUBLISHED", "DEPRECATED", "RETIRED", "BLOCKED")


class Api(IdMixin, TimestampMixin, Base):
    __tablename__ = "apis"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", "version"),
        UniqueConstraint("tenant_id", "context", "version"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    # Context without the tenant prefix, e.g. "/pizzashack".
    context: Mapped[str] = mapped_column(String(190), nullable=False)
    version: Mapped[str] = mapped_column(String(32), nullable=False)
    provider: Mapped[str] = mapped_column(String(190), nullable=False)
    provider_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    lifecycle_status: Mapped[str] = mapped_column(String(16), default="CREATED", nullable=False)
    endpoint_config: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, nullable=False)
    # Backend timeout in milliseconds (None = gateway default).
    backend_timeout_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    monetization_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    monetization_properties: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, nullable=False)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    policies: Mapped[list[ApiPolicy]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True, order_by="ApiPolicy.position"
    )


class ApiPolicy(Base):
    """A business plan offered by an API."""

    __tablename__ = "api_policies"

    api_id: Mapped[str] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True)
    policy_id: Mapped[str] = mapped_column(
        ForeignKey("subscription_policies.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
