"""Developer-portal and publisher bodies for subscriptions (WSO2 3.x shapes)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from tollway.policies.schemas import PolicyName
from tollway.rest.pagination import Pagination
from tollway.rest.schemas import RequestBody, ResponseBody, SingleLine

ObjectId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), SingleLine]
BLOCK_STATES = ("BLOCKED", "PROD_ONLY_BLOCKED")


class SubscriptionIn(RequestBody):
    applicationId: ObjectId
    apiId: ObjectId
    throttlingPolicy: PolicyName


class SubscriptionOut(ResponseBody):
    subscriptionId: str
    applicationId: str
    apiId: str
    throttlingPolicy: str
    status: str


class SubscriptionList(ResponseBody):
    count: int
    list: list[SubscriptionOut]
    pagination: Pagination


class ApplicationInfo(ResponseBody):
    applicationId: str
    name: str
    subscriber: str


class PublisherSubscription(ResponseBody):
    subscriptionId: str
    applicationInfo: ApplicationInfo
    throttlingPolicy: str
    subscriptionStatus: str


class PublisherSubscriptionList(ResponseBody):
    count: int
    list: list[PublisherSubscription]
    pagination: Pagination
