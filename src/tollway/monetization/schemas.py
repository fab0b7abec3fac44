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


ReturnUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=1024, pattern=r"^https?://[^\s]+$"),
    Field(description="an http(s) URL the payment page sends the subscriber back to"),
]


class TopUpIn(RequestBody):
    """Buy prepaid credit: the answer's ``checkoutUrl`` is the payment page."""

    amount: Annotated[
        str,
        StringConstraints(pattern=r"^[0-9]{1,13}(\.[0-9]{1,12})?$"),
        Field(description="a decimal string greater than 0, in whole minor units of the currency"),
    ]
    successUrl: ReturnUrl | None = None  # default: the developer portal's Wallet page
    cancelUrl: ReturnUrl | None = None


class TopUpOut(ResponseBody):
    sessionId: str
    checkoutUrl: str
    currency: str
    amount: str
