"""REST bodies for wallets: credits given by admins and publishers, wallets and their entries.

Money travels as decimal strings ("0.25"): ASCII digits, at most 12 decimal places, up to 10^12
(the rules of :func:`tollway.pricing.prices.parse_price`); the patterns below are exactly what
:mod:`tollway.wallets.service` accepts, so a generated client learns them from the document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field, StringConstraints

from tollway.rest.pagination import Pagination
from tollway.rest.schemas import Choice, RequestBody, ResponseBody, SingleLine

GRANT = "GRANT"
CREDIT_KINDS = ("GRANT", "TOP_UP", "ADJUSTMENT")
MAX_REASON = 500
MAX_REFERENCE = 128
CURRENCY_PATTERN = r"^[A-Za-z]{3}$"
AMOUNT_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,12})?$"
SIGNED_AMOUNT_PATTERN = r"^-?[0-9]{1,13}(\.[0-9]{1,12})?$"
REFERENCE_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
# "name" or "name@tenant-domain" (tollway.identity.users.local_username checks the rest).
OWNER_MAX = 300

Owner = Annotated[
    str,
    StringConstraints(min_length=1, max_length=OWNER_MAX),
    SingleLine,
    Field(description="the subscriber's username in the caller's tenant"),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=CURRENCY_PATTERN),
    Field(description="ISO 4217 code, any case"),
]
Amount = Annotated[
    str,
    StringConstraints(pattern=AMOUNT_PATTERN),
    Field(description="a decimal string greater than 0, at most 10^12, with at most 12 decimal places"),
]
SignedAmount = Annotated[
    str,
    StringConstraints(pattern=SIGNED_AMOUNT_PATTERN),
    Field(
        description="a decimal string, not 0, at most 10^12 either way, with at most 12 decimal places;"
        " negative for an ADJUSTMENT only (never below a zero balance)"
    ),
]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON),
    SingleLine,
    Field(description="why the credit is given (shown to the subscriber)"),
]
Reference = Annotated[
    str,
    StringConstraints(pattern=REFERENCE_PATTERN),
    Field(
        description="idempotency key: the same credit sent again with it is answered 200 with the"
        " entry already made, and changes nothing"
    ),
]


def _text_only(value: object) -> object:
    """JSON has no date type: a date-time is an ISO 8601 string with an offset, nothing else."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a time zone")
    return value


ExpiresAt = Annotated[
    AwareDatetime,
    BeforeValidator(_text_only),
    Field(strict=False, description="GRANT only: when what is left of the credit expires (in the future)"),
]

EXAMPLE_CREDIT: dict[str, Any] = {
    "owner": "dev",
    "currency": "USD",
    "amount": "25.00",
    "kind": "GRANT",
    "reason": "welcome credit",
    "expiresAt": "2030-01-01T00:00:00Z",
    "reference": "welcome-dev-2030",
}


class GrantIn(RequestBody):
    """A credit a publisher gives a subscriber of the tenant (a GRANT)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_CREDIT]})

    owner: Owner
    currency: Currency
    amount: Amount
    kind: Annotated[str, Choice(GRANT)] = GRANT
    reason: Reason
    expiresAt: ExpiresAt | None = None
    reference: Reference | None = None


class CreditIn(GrantIn):
    """A credit an admin records: a GRANT, a TOP_UP (a payment received) or an ADJUSTMENT."""

    amount: SignedAmount
    kind: Annotated[str, Choice(*CREDIT_KINDS)] = GRANT


class WalletOut(ResponseBody):
    walletId: str
    owner: str
    currency: str
    balance: str
    entryCount: int
    createdAt: datetime


class WalletList(ResponseBody):
    count: int
    list: list[WalletOut]
    pagination: Pagination


class StoreWalletList(ResponseBody):
    count: int
    list: list[WalletOut]


class EntryOut(ResponseBody):
    entryId: str
    walletId: str
    sequence: int
    kind: str
    amount: str
    balanceAfter: str
    reason: str | None
    actor: str | None
    reference: str | None
    expiresAt: datetime | None
    subscriptionId: str | None
    createdAt: datetime
    # Credits: what is left of them now (used oldest-expiring first); None for debits.
    creditLeft: str | None


class EntryList(ResponseBody):
    count: int
    list: list[EntryOut]
    pagination: Pagination


class SpendCapIn(RequestBody):
    """A spend cap for one billing period of a postpaid subscription."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": "25.00", "mode": "HARD"}]})

    amount: Amount
    mode: Annotated[str, Choice("HARD", "SOFT")] = "HARD"


class SpendCapOut(ResponseBody):
    subscriptionId: str
    amount: str | None  # None: no cap
    mode: str | None
    currency: str
    spent: str  # the exact cost of the period's stored billable calls
    periodStart: datetime
    periodEnd: datetime
    setBy: str | None
    # SUBSCRIPTION: the subscriber's own cap; PLAN: the business plan's default (HARD); None: no cap.
    source: str | None


class AlertThresholdIn(RequestBody):
    """WALLET: ``currency`` and ``amount`` (crossed when the balance falls below it). SPEND:
    ``subscriptionId`` and ``percent`` (of its spend cap) or ``amount`` (spent in the period).
    QUOTA: ``subscriptionId`` and ``percent`` (of its plan's request quota) or ``requests`` (calls
    in the quota's window)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"subject": "WALLET", "currency": "USD", "amount": "5.00"},
                {"subject": "SPEND", "subscriptionId": "<subscription id>", "percent": "80"},
                {"subject": "QUOTA", "subscriptionId": "<subscription id>", "percent": "90"},
            ]
        }
    )

    subject: Annotated[str, Choice("WALLET", "SPEND", "QUOTA")]
    currency: Currency | None = None
    subscriptionId: Annotated[str, StringConstraints(max_length=64)] | None = None
    percent: Amount | None = None
    amount: Amount | None = None
    requests: Annotated[int, Field(ge=1, le=10**15)] | None = None


class AlertThresholdOut(ResponseBody):
    thresholdId: str
    subject: str
    currency: str | None
    subscriptionId: str | None
    percent: str | None
    amount: str | None
    requests: int | None = None
    createdAt: datetime


class AlertThresholdList(ResponseBody):
    count: int
    list: list[AlertThresholdOut]
