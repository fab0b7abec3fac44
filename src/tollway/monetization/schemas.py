"""REST bodies of the monetization endpoints (publisher, developer portal, admin)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from tollway.rest.schemas import RequestBody, ResponseBody, SingleLine

PropertyName = Annotated[str, StringConstraints(min_length=1, max_length=190), SingleLine]
PropertyValue = Annotated[str, StringConstraints(max_length=1024), SingleLine]


class MonetizeIn(RequestBody):
    """``POST /apis/{apiId}/monetize``: enable or disable, with the publisher's properties."""

    enabled: bool
    properties: Annotated[dict[PropertyName, PropertyValue], Field(max_length=50)] = {}


class MonetizationOut(ResponseBody):
    """Whether the API is monetized and its tier -> engine plan mapping."""

    enabled: bool
    properties: dict[str, str]
