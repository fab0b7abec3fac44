"""Approval workflows (WSO2's admin ``/workflows``): a request that waits for an admin's decision.

A workflow row is opened when a tenant's workflow for that kind of request is ``approval``; the
object it holds (a subscription ON_HOLD or DELETE_PENDING, an application CREATED) stays inactive
until an admin approves or rejects it. Decided rows stay as the history of who decided what.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ForeignKey, Index, String, Text, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from tollway.config import Settings
from tollway.db.base import Base, IdMixin, TimestampMixin, utcnow
from tollway.db.types import JSONText, UTCDateTime
from tollway.models.tenant import Tenant

APPLICATION_CREATION = "AM_APPLICATION_CREATION"
SUBSCRIPTION_CREATION = "AM_SUBSCRIPTION_CREATION"
SUBSCRIPTION_UPDATE = "AM_SUBSCRIPTION_UPDATE"
SUBSCRIPTION_DELETION = "AM_SUBSCRIPTION_DELETION"
WORKFLOW_TYPES = (APPLICATION_CREATION, SUBSCRIPTION_CREATION, SUBSCRIPTION_UPDATE, SUBSCRIPTION_DELETION)
CREATED, APPROVED, REJECTED = "CREATED", "APPROVED", "REJECTED"

Kind = Literal[
    "application_creation", "subscription_creation", "subscription_update", "subscription_deletion"
]
KINDS: dict[str, Kind] = {
    APPLICATION_CREATION: "application_creation",
    SUBSCRIPTION_CREATION: "subscription_creation",
    SUBSCRIPTION_UPDATE: "subscription_update",
    SUBSCRIPTION_DELETION: "subscription_deletion",
}
# The tenant-config document's key whose entries override [workflows] for one tenant.
TENANT_CONFIG_KEY = "Workflows"
MODES = ("simple", "auto", "approval")


class Workflow(IdMixin, TimestampMixin, Base):
    """``id`` is WSO2's ``referenceId``."""

    __tablename__ = "workflows"
    __table_args__ = (
        Index(None, "tenant_id", "status", "created_at"),
        Index(None, "subject_id"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    workflow_type: Mapped[str] = mapped_column(String(48), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=CREATED)
    # The subscription or application waiting (no foreign key: the history outlives it).
    subject_id: Mapped[str] = mapped_column(String(36), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(255), nullable=False)
    # What the admin needs to decide (application, API, plan, subscriber, status before).
    properties: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict, nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


def approval_required(session: Session, settings: Settings, tenant_id: str, kind: Kind) -> bool:
    """Whether ``kind`` of request waits for an admin in this tenant: its tenant-config
    ``Workflows`` entry if it has one, else ``[workflows]``."""
    tenant = session.get(Tenant, tenant_id)
    overrides = (tenant.config or {}).get(TENANT_CONFIG_KEY) if tenant is not None else None
    mode = overrides.get(kind) if isinstance(overrides, dict) else None
    if mode not in MODES:
        mode = getattr(settings.workflows, kind)
    return bool(mode == "approval")


def open_workflow(
    session: Session,
    tenant_id: str,
    workflow_type: str,
    subject_id: str,
    requested_by: str,
    properties: dict[str, Any],
) -> Workflow:
    workflow = Workflow(
        tenant_id=tenant_id,
        workflow_type=workflow_type,
        status=CREATED,
        subject_id=subject_id,
        requested_by=requested_by,
        properties=properties,
        updated_at=utcnow(),
    )
    session.add(workflow)
    return workflow


def drop_pending(session: Session, subject_id: str) -> None:
    """Remove the undecided requests about a subject that is going away (its owner withdrew it)."""
    session.execute(delete(Workflow).where(Workflow.subject_id == subject_id, Workflow.status == CREATED))
