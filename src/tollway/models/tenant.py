"""Tenants and their users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import JSONText, UTCDateTime

DEFAULT_TENANT = "carbon.super"


class Tenant(IdMixin, TimestampMixin, Base):
    __tablename__ = "tenants"

    domain: Mapped[str] = mapped_column(String(190), unique=True, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # The tenant-config document minus secrets (WSO2's tenant-conf.json).
    config: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, nullable=False)
    # MonetizationInfo secrets, encrypted with the instance master key.
    monetization_secrets: Mapped[str | None] = mapped_column(Text, nullable=True)


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "username"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    # Local name, without the "@tenant" suffix.
    username: Mapped[str] = mapped_column(String(190), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    given_name: Mapped[str | None] = mapped_column(String(190), nullable=True)
    family_name: Mapped[str | None] = mapped_column(String(190), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    tenant: Mapped[Tenant] = relationship(lazy="joined")
    roles: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )

    @property
    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
