"""Outgoing webhooks: endpoints, the durable outbox of events, deliveries and their attempts.

An event is written in the transaction that caused it (``webhook_events``), with one delivery row
per endpoint that wants it; the dispatcher sends deliveries after the commit, so a restart loses
none and a rollback sends none. Alert thresholds and the record that each was crossed once per
period live here too: crossing one emits an event.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import JSONText, Money, UTCDateTime


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index(None, "tenant_id", "application_id"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    # None: the tenant's endpoint (publishers, admins: every event of the tenant); else a
    # subscriber's endpoint for one application (its subscriptions' and its owner's wallet events).
    application_id: Mapped[str | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), nullable=True
    )
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    secret_encrypted: Mapped[str] = mapped_column(Text, nullable=False)  # SecretBox, shown once
    event_types: Mapped[list[str]] = mapped_column(JSONText(), nullable=False)  # [] or ["*"]: all
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(255), nullable=True)


class WebhookEvent(TimestampMixin, Base):
    __tablename__ = "webhook_events"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # evt_<hex>, the receivers' dedupe key
    tenant_id: Mapped[str] = mapped_column(String(36), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    application_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    owner_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # the subscriber concerned
    data: Mapped[dict[str, Any]] = mapped_column(JSONText(), nullable=False)


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "endpoint_id", "created_at"),
    )

    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False)
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # PENDING | SUCCEEDED | FAILED
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # PENDING: when it may be sent next; a dispatcher moves it ahead before sending (its claim).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Retries stop retry_for seconds after this: the event's time, or a manual redelivery's.
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookAttempt(IdMixin, Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "attempted_at"),)

    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no answer
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)


class AlertThreshold(IdMixin, TimestampMixin, Base):
    """A subscriber's threshold on a wallet's balance, a subscription's spend or its request quota."""

    __tablename__ = "alert_thresholds"
    __table_args__ = (Index(None, "tenant_id", "owner_id"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    # WALLET: crossed when the balance of the owner's wallet in ``currency`` falls below ``amount``.
    # SPEND: crossed when the subscription's spend in the period reaches ``percent`` of its cap
    # or ``amount``. QUOTA: crossed when the subscription's calls in its plan's quota window reach
    # ``percent`` of the quota or ``requests``.
    subject: Mapped[str] = mapped_column(String(8), nullable=False)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=True
    )
    percent: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    amount: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    requests: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AlertCrossing(IdMixin, Base):
    """That a threshold was crossed in one period (``period_key``): each emits its event once."""

    __tablename__ = "alert_crossings"
    __table_args__ = (UniqueConstraint("threshold_key", "period_key"),)

    # an AlertThreshold id, or "cap:<subscription>" / "depleted:<wallet>" for the built-in ones
    threshold_key: Mapped[str] = mapped_column(String(64), nullable=False)
    period_key: Mapped[str] = mapped_column(String(64), nullable=False)
    crossed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    event_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
