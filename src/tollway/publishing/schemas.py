"""REST bodies of the admin's usage-publishing endpoints."""

from __future__ import annotations

from tollway.rest.schemas import ResponseBody


class PublishAccepted(ResponseBody):
    status: str
    message: str


class PublishStatus(ResponseBody):
    state: str
    status: str
    startedTime: str
    lastPublishedTime: str
    lastPublsihedTime: str
