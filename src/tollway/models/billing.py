"""Invoices and invoice lines (all engines), and the built-in ledger engine's own records."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tollway.db.base import Base, IdMixin, TimestampMixin
from tollway.db.types import JSONText, Money, UTCDateTime


class Invoice(IdMixin, TimestampMixin, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("mon_subscription_id", "period_start"),
        Index(None, "api_id"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    # Human number, given when finalized (e.g. "TW-2026-000042").
    number: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    engine: Mapped[str] = mapped_column(String(64), nullable=False)
    engine_invoice_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mon_subscription_id: Mapped[str] = mapped_column(
        ForeignKey("mon_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    subscription_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    api_id: Mapped[str] = mapped_column(String(36), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="open", nullable=False)
    subtotal: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    tax: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    total: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    amount_due: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    amount_paid: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Ledger invoices: paid by this date, or (after [monetization] payment_grace_days) the
    # subscription is blocked until they are. Stripe's invoices follow Stripe's own dunning.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Who set the payment state last, and their note (e.g. the bank transfer's reference).
    status_set_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status_note: Mapped[str | None] = mapped_column(String(500), nullable=True)

    lines: Mapped[list[InvoiceLineRow]] = relationship(
        cascade="all, delete-orphan", order_by="InvoiceLineRow.position", lazy="selectin"
    )


class InvoiceLineRow(IdMixin, Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(String(255), nullable=False)
    quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    unit_amount: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money(), nullable=False)


class LedgerPlan(TimestampMixin, Base):
    """A frozen price version of a business plan; edits make a new plan and deactivate the old."""

    __tablename__ = "ledger_plans"
    __table_args__ = (Index(None, "policy_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    product_id: Mapped[str] = mapped_column(String(64), nullable=False)
    pricing: Mapped[dict[str, Any]] = mapped_column(JSONText(), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)


class LedgerCustomer(TimestampMixin, Base):
    __tablename__ = "ledger_customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    account: Mapped[str | None] = mapped_column(String(255), nullable=True)


class LedgerSubscription(TimestampMixin, Base):
    __tablename__ = "ledger_subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    customer_id: Mapped[str] = mapped_column(ForeignKey("ledger_customers.id"), nullable=False)
    plan_id: Mapped[str] = mapped_column(ForeignKey("ledger_plans.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False)
    # Billing periods are anchored here, in UTC.
    anchor_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LedgerUsageRecord(TimestampMixin, Base):
    """Usage received by the ledger; the primary key is the publisher's idempotency key."""

    __tablename__ = "ledger_usage_records"
    # Covering index: an invoice sums a period's quantities without touching the table.
    __table_args__ = (Index(None, "subscription_id", "usage_time", "quantity"),)

    id: Mapped[str] = mapped_column(String(190), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("ledger_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The end of the usage window the record covers: it decides the billing period.
    usage_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
