"""REST bodies for webhook endpoints and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from tollway.events import EVENT_TYPES
from tollway.rest.pagination import Pagination
from tollway.rest.schemas import Choice, RequestBody, ResponseBody, SingleLine

Url = Annotated[
    str,
    StringConstraints(min_length=8, max_length=2048, pattern=r"^https?://[^\s]+$"),
    Field(description="where events are POSTed: an http:// or https:// URL"),
]
EventType = Annotated[str, Choice("*", *EVENT_TYPES)]
Description = Annotated[str, StringConstraints(max_length=255), SingleLine]

EXAMPLE: dict[str, Any] = {
    "url": "https://billing.example.com/tollway-events",
    "eventTypes": ["wallet.low_balance", "wallet.depleted"],
    "description": "finance alerts",
}


class EndpointIn(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    url: Url
    eventTypes: Annotated[
        list[EventType], Field(max_length=len(EVENT_TYPES) + 1, description="[] or ['*']: every event")
    ] = []
    description: Description | None = None
    enabled: bool = True


class EndpointOut(ResponseBody):
    endpointId: str
    applicationId: str | None
    url: str
    eventTypes: list[str]
    description: str | None
    enabled: bool
    createdAt: datetime
    # Only in the answer to its creation: the key receivers check signatures with.
    secret: str | None = None


class EndpointList(ResponseBody):
    count: int
    list: list[EndpointOut]


class AttemptOut(ResponseBody):
    attemptedAt: datetime
    statusCode: int | None
    error: str | None
    durationMs: int


class DeliveryOut(ResponseBody):
    deliveryId: str
    eventId: str
    eventType: str
    status: str  # PENDING | SUCCEEDED | FAILED
    attempts: int
    nextAttemptAt: datetime | None
    lastStatusCode: int | None
    lastError: str | None
    deliveredAt: datetime | None
    createdAt: datetime
    attemptLog: list[AttemptOut]


class DeliveryList(ResponseBody):
    count: int
    list: list[DeliveryOut]
    pagination: Pagination
