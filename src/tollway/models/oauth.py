"""OAuth2 clients and tokens. Secrets and tokens are stored as hashes (a registered client's
secret also encrypted with the master key, see OAuthClient.secret_encrypted)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import UTCDateTime


class OAuthClient(IdMixin, TimestampMixin, Base):
    __tablename__ = "oauth_clients"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    client_name: Mapped[str] = mapped_column(String(190), nullable=False)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    # Set for an application's consumer key pair (generate-keys).
    application_id: Mapped[str | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=True
    )
    key_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    grant_types: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    callback_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A client made by dynamic client registration also keeps its secret encrypted with the master
    # key: registering it again answers the same secret, as WSO2 does, so scripts that register on
    # every run do not void each other's credentials. Application key pairs keep only the hash.
    secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    saas_app: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)


class OAuthToken(IdMixin, TimestampMixin, Base):
    __tablename__ = "oauth_tokens"
    __table_args__ = (Index(None, "client_pk"), Index(None, "application_id"))

    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # access | refresh
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    client_pk: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    application_id: Mapped[str | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=True
    )
    scopes: Mapped[str] = mapped_column(String(1024), default="", nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Refresh tokens rotate: the access token issued with a refresh token shares its family.
    family_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
