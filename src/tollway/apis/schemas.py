"""Publisher and developer-portal bodies for APIs (WSO2 3.x ``API`` shapes, trimmed)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from tollway.identity.users import LOGIN_SCHEMA
from tollway.models.api import LIFECYCLE_STATES
from tollway.policies.schemas import PolicyName
from tollway.rest.pagination import Pagination
from tollway.rest.schemas import Choice, MultiLine, RequestBody, ResponseBody, SingleLine

MAX_BACKEND_TIMEOUT_MS = 3_600_000

ApiName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=r"^[\w .-]+$"),
    SingleLine,
]
# Path segments of letters, digits and . _ ~ - (tollway.apis.service.normalize_context checks
# them, and that the first is not "t", which starts a tenant's path).
ContextText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=190),
    SingleLine,
    Field(json_schema_extra={"pattern": r"^/?[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*/?$"}),
]
VersionText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    ),
    SingleLine,
]
UrlText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048), SingleLine]


class Endpoint(RequestBody):
    url: UrlText


class EndpointConfig(RequestBody):
    endpoint_type: Annotated[str, Choice("http", "address")] = "http"
    production_endpoints: Endpoint | None = None
    sandbox_endpoints: Endpoint | None = None


class ApiIn(RequestBody):
    """An API as sent by the publisher. ``id``, ``provider`` and ``lifeCycleStatus`` are read-only
    (accepted when unchanged, so a GET body can be sent back with PUT)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Weather",
                    "context": "/weather",
                    "version": "1.0.0",
                    "policies": ["Gold", "Unlimited"],
                    "endpointConfig": {
                        "endpoint_type": "http",
                        "production_endpoints": {"url": "http://127.0.0.1:8080/weather"},
                    },
                }
            ]
        }
    )

    id: Annotated[str, StringConstraints(max_length=64), SingleLine] | None = None
    name: ApiName
    context: ContextText
    version: VersionText
    provider: (
        Annotated[
            str,
            StringConstraints(max_length=190),
            SingleLine,
            Field(description="the caller's user name", json_schema_extra=LOGIN_SCHEMA),
        ]
        | None
    ) = None
    lifeCycleStatus: Annotated[str, Choice(*LIFECYCLE_STATES)] | None = None
    description: Annotated[str, StringConstraints(max_length=32000), MultiLine] | None = None
    policies: Annotated[list[PolicyName], Field(max_length=50)] = []
    endpointConfig: EndpointConfig | None = None
    backendTimeoutMs: Annotated[int, Field(ge=1, le=MAX_BACKEND_TIMEOUT_MS)] | None = None


class EndpointOut(ResponseBody):
    url: str


class EndpointConfigOut(ResponseBody):
    endpoint_type: str
    production_endpoints: EndpointOut | None
    sandbox_endpoints: EndpointOut | None


class ApiOut(ResponseBody):
    id: str
    name: str
    context: str
    version: str
    provider: str
    lifeCycleStatus: str
    description: str | None
    policies: list[str]
    endpointConfig: EndpointConfigOut | None
    backendTimeoutMs: int | None


class ApiInfo(ResponseBody):
    id: str
    name: str
    context: str
    version: str
    provider: str
    lifeCycleStatus: str
    description: str | None


class ApiList(ResponseBody):
    count: int
    list: list[ApiInfo]
    pagination: Pagination


class Transition(ResponseBody):
    event: str
    targetState: str


class LifecycleState(ResponseBody):
    state: str
    checkItems: list[str] = []
    availableTransitions: list[Transition]


class LifecycleChange(ResponseBody):
    workflowStatus: str = "APPROVED"
    jsonPayload: str | None = None
    lifecycleState: LifecycleState


class MonetizationAttribute(ResponseBody):
    name: str
    displayName: str
    required: bool
    description: str


class PublisherSettings(ResponseBody):
    monetizationAttributes: list[MonetizationAttribute]


# Developer portal


class PriceTierOut(ResponseBody):
    """One band of a tiered price; prices are exact decimal strings (never JSON numbers)."""

    upTo: int | None
    unitPrice: str
    flatAmount: str


class TierMonetizationAttributes(ResponseBody):
    fixedPrice: str | None
    pricePerRequest: str | None
    currencyType: str | None
    billingCycle: str | None
    # Tollway extensions.
    includedRequests: int | None
    tiers: list[PriceTierOut] | None
    tierMode: str | None


class ApiTier(ResponseBody):
    tierName: str
    tierPlan: str
    monetizationAttributes: TierMonetizationAttributes


class StoreApi(ResponseBody):
    id: str
    name: str
    description: str | None
    context: str
    version: str
    provider: str
    lifeCycleStatus: str
    throttlingPolicies: list[str]
    tiers: list[ApiTier]


class StoreApiList(ResponseBody):
    count: int
    list: list[StoreApi]
    pagination: Pagination
