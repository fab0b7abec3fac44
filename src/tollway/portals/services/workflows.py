"""Approval workflows in the admin portal's Tasks page: the same calls, caller and shapes as the
admin REST API's ``/workflows`` endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.errors import BadRequest
from tollway.identity.principal import Principal
from tollway.models.workflow import APPROVED, CREATED, REJECTED
from tollway.portals.forms import words_for
from tollway.portals.services.common import PORTAL_LIST_LIMIT, dump, require
from tollway.runtime import Runtime
from tollway.workflows import service
from tollway.workflows.endpoints import workflow_info
from tollway.workflows.schemas import WorkflowDecision

VIEW_SCOPE, APPROVE_SCOPE = "apim:api_workflow_view", "apim:api_workflow_approve"  # as the endpoints


def tasks(db: Session, principal: Principal, status: str = CREATED) -> list[dict[str, Any]]:
    """The tenant's requests in ``status`` (pending by default), newest first."""
    require(principal, VIEW_SCOPE)
    _, rows = service.list_workflows(
        db, principal, workflow_type=None, status=status, limit=PORTAL_LIST_LIMIT, offset=0
    )
    return [dump(workflow_info(row)) for row in rows]


def decide_task(
    db: Session, runtime: Runtime, principal: Principal, reference_id: str, approve: bool, note: str | None
) -> dict[str, Any]:
    require(principal, APPROVE_SCOPE)
    try:
        body = WorkflowDecision.model_validate(
            {"status": APPROVED if approve else REJECTED, "description": note}
        )
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    decided = service.decide(db, runtime.hooks, principal, reference_id, body.status, body.description)
    return dump(workflow_info(decided))
