"""WSO2 admin API v1 shapes: ``WorkflowInfo``, ``WorkflowList`` and the ``Workflow`` decision."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from tollway.models.workflow import APPROVED, REJECTED
from tollway.rest.pagination import Pagination
from tollway.rest.schemas import Choice, MultiLine, RequestBody, ResponseBody


class WorkflowInfo(ResponseBody):
    workflowType: str
    workflowStatus: str
    createdTime: datetime
    updatedTime: datetime | None
    referenceId: str
    properties: dict[str, Any]
    description: str | None
    requestedBy: str
    decidedBy: str | None


class WorkflowList(ResponseBody):
    count: int
    list: list[WorkflowInfo]
    pagination: Pagination


class WorkflowDecision(RequestBody):
    """WSO2's ``Workflow`` body: the decision and the admin's note."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "APPROVED", "description": "Checked with the team"}]}
    )

    status: Annotated[str, Choice(APPROVED, REJECTED)]
    attributes: Annotated[
        dict[Annotated[str, StringConstraints(max_length=64)], str], Field(max_length=20)
    ] = {}
    description: Annotated[str, StringConstraints(max_length=1000), MultiLine] | None = None


class WorkflowOut(ResponseBody):
    status: str
    attributes: dict[str, str]
    description: str | None
