"""Queries on ``workflows``, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from tollway.db.base import utcnow
from tollway.models.workflow import CREATED, Workflow


def get(session: Session, tenant_id: str, reference_id: str) -> Workflow | None:
    return session.scalar(
        select(Workflow).where(Workflow.tenant_id == tenant_id, Workflow.id == reference_id)
    )


def page(
    session: Session,
    tenant_id: str,
    *,
    workflow_type: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[int, Sequence[Workflow]]:
    conditions: list[ColumnElement[bool]] = [Workflow.tenant_id == tenant_id]
    if workflow_type is not None:
        conditions.append(Workflow.workflow_type == workflow_type)
    if status is not None:
        conditions.append(Workflow.status == status)
    total = session.scalar(select(func.count()).select_from(Workflow).where(*conditions)) or 0
    rows = session.scalars(
        select(Workflow)
        .where(*conditions)
        .order_by(Workflow.created_at.desc(), Workflow.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return total, rows


def claim_decision(
    session: Session, workflow: Workflow, status: str, description: str | None, decided_by: str
) -> bool:
    """Record the decision if nobody decided first (two admins at once: one wins, the other
    is told it was decided)."""
    result = session.execute(
        update(Workflow)
        .where(Workflow.id == workflow.id, Workflow.status == CREATED)
        .values(status=status, description=description, decided_by=decided_by, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(workflow)
    return True
