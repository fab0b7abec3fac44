"""Listing and deciding approval workflows.

A decision is claimed first (a conditional UPDATE of the still-undecided row), then applied to
what it holds, in the same transaction: if the billing engine refuses to start an approved
subscription, the claim rolls back with it and the request stays pending.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from tollway.billing.hooks import MonetizationHooks
from tollway.db.base import utcnow
from tollway.errors import Conflict, NotFound
from tollway.identity.principal import Principal
from tollway.models import Application
from tollway.models.workflow import (
    APPLICATION_CREATION,
    APPROVED,
    CREATED,
    SUBSCRIPTION_CREATION,
    SUBSCRIPTION_DELETION,
    Workflow,
)
from tollway.subscriptions import service as subscriptions
from tollway.workflows import repository

ANY_STATUS = "ALL"


def list_workflows(
    session: Session,
    caller: Principal,
    *,
    workflow_type: str | None,
    status: str,
    limit: int,
    offset: int,
) -> tuple[int, Sequence[Workflow]]:
    """Pending requests by default (WSO2's list); ``status`` APPROVED, REJECTED or ALL for the history."""
    return repository.page(
        session,
        caller.tenant_id,
        workflow_type=workflow_type,
        status=None if status == ANY_STATUS else status,
        limit=limit,
        offset=offset,
    )


def get_workflow(session: Session, caller: Principal, reference_id: str) -> Workflow:
    workflow = repository.get(session, caller.tenant_id, reference_id)
    if workflow is None:
        raise NotFound(f"workflow {reference_id!r} not found")
    return workflow


def decide(
    session: Session,
    hooks: MonetizationHooks,
    caller: Principal,
    reference_id: str,
    status: str,
    description: str | None,
) -> Workflow:
    workflow = get_workflow(session, caller, reference_id)
    if not repository.claim_decision(session, workflow, status, description, caller.username):
        session.refresh(workflow)  # someone decided it first: say how
        raise Conflict(f"workflow {reference_id!r} is already {workflow.status}")
    approved = status == APPROVED
    if workflow.workflow_type == APPLICATION_CREATION:
        _decide_application(session, workflow, approved)
        return workflow
    subscription = subscriptions.get_in_tenant(session, workflow.tenant_id, workflow.subject_id)
    if workflow.workflow_type == SUBSCRIPTION_CREATION:
        if approved:
            subscriptions.activate(session, hooks, subscription)
        else:
            subscriptions.set_decided_status(
                session, subscription, subscriptions.ON_HOLD, subscriptions.REJECTED
            )
    elif workflow.workflow_type == SUBSCRIPTION_DELETION:
        if approved:
            subscriptions.remove(session, hooks, subscription)
        else:
            previous = str(workflow.properties.get("previousStatus") or subscriptions.UNBLOCKED)
            subscriptions.set_decided_status(session, subscription, subscriptions.DELETE_PENDING, previous)
    else:
        raise Conflict(f"workflows of type {workflow.workflow_type} cannot be decided here")
    return workflow


def _decide_application(session: Session, workflow: Workflow, approved: bool) -> None:
    app = session.get(Application, workflow.subject_id)
    if app is None or app.tenant_id != workflow.tenant_id:
        raise NotFound(f"application {workflow.subject_id!r} not found")
    if app.status != CREATED:
        raise Conflict(f"the application is {app.status}, not CREATED")
    app.status = workflow.status
    app.updated_at = utcnow()
    session.flush()
