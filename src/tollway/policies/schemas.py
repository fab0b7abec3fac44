"""Admin API bodies for subscription policies (WSO2 3.x ``SubscriptionThrottlePolicy``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints

from tollway.rest.schemas import MAX_BIG, MAX_INT, Choice, MultiLine, RequestBody, ResponseBody, SingleLine

TIME_UNITS = ("sec", "min", "hour", "day", "week", "month", "year")
_TIME_ALIASES = {
    "second": "sec",
    "seconds": "sec",
    "minute": "min",
    "minutes": "min",
    "hours": "hour",
    "days": "day",
    "weeks": "week",
    "months": "month",
    "years": "year",
}
BURST_UNITS = ("sec", "min", "hour", "day")
DATA_UNITS = ("B", "KB", "MB", "GB", "TB")
LIMIT_TYPES = ("RequestCountLimit", "BandwidthLimit")
BILLING_PLANS = ("FREE", "COMMERCIAL")
MONETIZATION_PLANS = ("FixedRate", "DynamicRate")
BILLING_CYCLES = ("day", "week", "month", "year")
TIER_MODES = ("graduated", "volume")
# POSTPAID: invoiced after the period; PREPAID: paid from the subscriber's wallet as used (docs/prepaid.md).
BILLING_MODES = ("POSTPAID", "PREPAID")
POLICY_TYPE = "SubscriptionThrottlePolicy"

TimeUnit = Annotated[str, Choice(*TIME_UNITS, aliases=_TIME_ALIASES)]
BurstUnit = Annotated[str, Choice(*BURST_UNITS, aliases=_TIME_ALIASES)]
PolicyName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=r"^[A-Za-z0-9._\- ]+$"),
    SingleLine,
]
Label = Annotated[str, StringConstraints(max_length=255), SingleLine]
Description = Annotated[str, StringConstraints(max_length=4000), MultiLine]
# Prices are decimal strings; tollway.policies.pricing_input checks them (ASCII digits only). The
# documented pattern is their plain form ("" = none); exponents ("1E+3") are read too.
PriceText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=64),
    SingleLine,
    Field(
        description="a decimal string from 0 to 10^12 with at most 12 decimal places",
        json_schema_extra={"pattern": r"^(?:[0-9]{1,13}(?:\.[0-9]{1,12})?)?$"},
    ),
]
Count = Annotated[int, Field(ge=0, le=MAX_BIG)]
UnitTime = Annotated[int, Field(ge=1, le=MAX_INT)]


def _count_text(value: object) -> object:
    """``"1000"`` as 1000. ASCII digits only: ``int()`` also reads Arabic-Indic or fullwidth 12 as 12."""
    if isinstance(value, str):
        if not (0 < len(value) <= 15 and value.isascii() and value.isdigit()):
            raise ValueError("must be a whole number in ASCII digits (0-9), at most 15 of them")
        return int(value)
    return value


CountOrText = Annotated[
    Count,
    BeforeValidator(
        _count_text,
        json_schema_input_type=Count | Annotated[str, StringConstraints(pattern=r"^[0-9]{1,15}$")],
    ),
]


EXAMPLE_PLAN: dict[str, Any] = {
    "policyName": "Platinum",
    "displayName": "Platinum",
    "description": "1000 requests a minute, 0.0004 USD each",
    "defaultLimit": {"type": "RequestCountLimit", "requestCount": {"timeUnit": "min", "requestCount": 1000}},
    "rateLimitCount": 50,
    "rateLimitTimeUnit": "sec",
    "billingPlan": "COMMERCIAL",
    "monetization": {
        "monetizationPlan": "DynamicRate",
        "properties": {"pricePerRequest": "0.0004", "currencyType": "USD", "billingCycle": "month"},
    },
}


class RequestCountLimit(RequestBody):
    timeUnit: TimeUnit
    unitTime: UnitTime = 1
    requestCount: Count


class BandwidthLimit(RequestBody):
    timeUnit: TimeUnit
    unitTime: UnitTime = 1
    dataAmount: Count
    dataUnit: Annotated[str, Choice(*DATA_UNITS)]


class DefaultLimit(RequestBody):
    type: Annotated[str, Choice(*LIMIT_TYPES)]
    requestCount: RequestCountLimit | None = None
    bandwidth: BandwidthLimit | None = None


class MonetizationProperties(RequestBody):
    fixedPrice: PriceText | None = None
    pricePerRequest: PriceText | None = None
    currencyType: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=16),
            SingleLine,
            Field(description="ISO 4217 code, any case", json_schema_extra={"pattern": "^[A-Za-z]{3}$"}),
        ]
        | None
    ) = None
    billingCycle: Annotated[str, Choice(*BILLING_CYCLES)] | None = None
    # Tollway extension: free units per billing cycle. WSO2 properties are strings, so "1000" is
    # accepted as well as 1000.
    includedRequests: CountOrText | None = None


class PriceTierIn(RequestBody):
    upTo: Annotated[int, Field(ge=1, le=MAX_BIG)] | None = None
    unitPrice: PriceText
    # Charged once per period with the tier (graduated: when its band is reached; volume: when
    # the period's total falls in it). Empty or absent: 0.
    flatAmount: PriceText | None = None


class Monetization(RequestBody):
    monetizationPlan: Annotated[str, Choice(*MONETIZATION_PLANS)] | None = None
    properties: MonetizationProperties = MonetizationProperties()
    # Tollway extension: tiered per-request prices (DynamicRate).
    tiers: Annotated[list[PriceTierIn], Field(max_length=50)] | None = None
    tierMode: Annotated[str, Choice(*TIER_MODES)] | None = None


class CustomAttribute(RequestBody):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255), SingleLine]
    value: Annotated[str, StringConstraints(max_length=1024), SingleLine]


class PolicyIn(RequestBody):
    """A business plan as sent by a client. ``policyId``, ``type`` and ``isDeployed`` are read-only
    (accepted so that a GET body can be sent back with PUT)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PLAN]})

    policyId: Annotated[str, StringConstraints(max_length=64), SingleLine] | None = None
    type: Annotated[str, Choice(POLICY_TYPE)] | None = None
    isDeployed: bool | None = None
    policyName: PolicyName
    displayName: Label | None = None
    description: Description | None = None
    defaultLimit: DefaultLimit
    rateLimitCount: Annotated[int, Field(ge=0, le=MAX_INT)] = 0
    rateLimitTimeUnit: BurstUnit | None = None
    stopOnQuotaReach: bool = True
    billingPlan: Annotated[str, Choice(*BILLING_PLANS)] = "FREE"
    # Tollway extension: PREPAID needs a monetized (COMMERCIAL) plan.
    billingMode: Annotated[str, Choice(*BILLING_MODES)] = "POSTPAID"
    # Tollway extension: a HARD spend cap per billing period for each subscription that sets none
    # itself (POSTPAID plans with a price per call; "" or absent = none).
    defaultSpendCap: PriceText | None = None
    monetization: Monetization | None = None
    customAttributes: Annotated[list[CustomAttribute], Field(max_length=50)] = []


class RequestCountLimitOut(ResponseBody):
    timeUnit: str
    unitTime: int
    requestCount: int


class BandwidthLimitOut(ResponseBody):
    timeUnit: str
    unitTime: int
    dataAmount: int
    dataUnit: str


class DefaultLimitOut(ResponseBody):
    type: str
    requestCount: RequestCountLimitOut | None
    bandwidth: BandwidthLimitOut | None


class MonetizationPropertiesOut(ResponseBody):
    fixedPrice: str | None
    pricePerRequest: str | None
    currencyType: str | None
    billingCycle: str | None
    includedRequests: int


class PriceTierOut(ResponseBody):
    upTo: int | None
    unitPrice: str
    flatAmount: str


class MonetizationOut(ResponseBody):
    monetizationPlan: str
    properties: MonetizationPropertiesOut
    tiers: list[PriceTierOut] | None
    tierMode: str | None


class CustomAttributeOut(ResponseBody):
    name: str
    value: str


class PolicyOut(ResponseBody):
    policyId: str
    type: str = POLICY_TYPE
    isDeployed: bool = True
    policyName: str
    displayName: str | None
    description: str | None
    defaultLimit: DefaultLimitOut
    rateLimitCount: int
    rateLimitTimeUnit: str | None
    stopOnQuotaReach: bool
    billingPlan: str
    billingMode: str
    defaultSpendCap: str | None = None
    monetization: MonetizationOut | None
    customAttributes: list[CustomAttributeOut]


class PolicyList(ResponseBody):
    count: int
    list: list[PolicyOut]
