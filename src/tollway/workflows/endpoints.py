"""Admin API (WSO2 admin v1): the tenant's approval workflows.

GET  {ADMIN}/workflows[?workflowType=&status=&limit=&offset=]
GET  {ADMIN}/workflows/{workflowReferenceId}
POST {ADMIN}/workflows/update-workflow-status?workflowReferenceId=…   {"status", "description"}
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from tollway.identity.principal import Principal, requires
from tollway.models.workflow import APPROVED, CREATED, REJECTED, WORKFLOW_TYPES, Workflow
from tollway.rest.deps import DbSession, Hooks
from tollway.rest.pagination import Page, page
from tollway.rest.prefixes import ADMIN
from tollway.rest.responses import ERRORS
from tollway.rest.schemas import Choice
from tollway.workflows import service
from tollway.workflows.schemas import WorkflowDecision, WorkflowInfo, WorkflowList, WorkflowOut

router = APIRouter(prefix=ADMIN + "/workflows", tags=["Workflows"], responses=ERRORS)

Viewer = Annotated[Principal, Depends(requires("apim:api_workflow_view"))]
Approver = Annotated[Principal, Depends(requires("apim:api_workflow_approve"))]
Paged = Annotated[Page, Depends(page)]
WorkflowType = Annotated[
    str | None, Query(description="one of " + ", ".join(WORKFLOW_TYPES)), Choice(*WORKFLOW_TYPES)
]
Status = Annotated[
    str,
    Query(description="CREATED (pending, the default), APPROVED, REJECTED or ALL"),
    Choice(CREATED, APPROVED, REJECTED, service.ANY_STATUS),
]
ReferenceId = Annotated[str, Path(max_length=64)]


def workflow_info(workflow: Workflow) -> WorkflowInfo:
    return WorkflowInfo(
        workflowType=workflow.workflow_type,
        workflowStatus=workflow.status,
        createdTime=workflow.created_at,
        updatedTime=workflow.updated_at,
        referenceId=workflow.id,
        properties=dict(workflow.properties or {}),
        description=workflow.description,
        requestedBy=workflow.requested_by,
        decidedBy=workflow.decided_by,
    )


@router.get("", response_model=WorkflowList, summary="Pending requests (or the decided ones)")
def list_workflows(
    caller: Viewer,
    session: DbSession,
    paging: Paged,
    workflowType: WorkflowType = None,
    status: Status = CREATED,
) -> WorkflowList:
    total, rows = service.list_workflows(
        session, caller, workflow_type=workflowType, status=status, limit=paging.limit, offset=paging.offset
    )
    items = [workflow_info(w) for w in rows]
    return WorkflowList(
        count=len(items), list=items, pagination=paging.pagination(total, workflowType=workflowType)
    )


@router.get("/{workflowReferenceId}", response_model=WorkflowInfo, summary="One request")
def get_workflow(workflowReferenceId: ReferenceId, caller: Viewer, session: DbSession) -> WorkflowInfo:
    return workflow_info(service.get_workflow(session, caller, workflowReferenceId))


@router.post(
    "/update-workflow-status",
    response_model=WorkflowOut,
    summary="Approve or reject a pending request",
)
def update_workflow_status(
    body: WorkflowDecision,
    caller: Approver,
    session: DbSession,
    hooks: Hooks,
    workflowReferenceId: Annotated[str, Query(max_length=64)],
) -> WorkflowOut:
    service.decide(session, hooks, caller, workflowReferenceId, body.status, body.description)
    return WorkflowOut(status=body.status, attributes=dict(body.attributes), description=body.description)
