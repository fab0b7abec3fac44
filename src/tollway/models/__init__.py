"""SQLAlchemy models, one module per aggregate, all imported here so metadata is complete."""

from tollway.models.api import Api, ApiPolicy
from tollway.models.application import ApiKey, Application, ApplicationKey, Subscription
from tollway.models.billing import (
    Invoice,
    InvoiceLineRow,
    LedgerCustomer,
    LedgerPlan,
    LedgerSubscription,
    LedgerUsageRecord,
)
from tollway.models.config_version import ConfigVersion
from tollway.models.monetization import (
    JobLock,
    MonApiTierPlan,
    MonPlatformCustomer,
    MonPolicyPlan,
    MonSharedCustomer,
    MonSubscription,
    UsagePublishJob,
    UsagePublishRecord,
)
from tollway.models.oauth import OAuthClient, OAuthToken
from tollway.models.policy import PolicyPriceTier, SubscriptionPolicy
from tollway.models.spend_cap import SpendCap
from tollway.models.tenant import DEFAULT_TENANT, Tenant, User, UserRole
from tollway.models.usage import UsageEventRow, UsageRollup
from tollway.models.wallet import Wallet, WalletEntry
from tollway.models.webhook import (
    AlertCrossing,
    AlertThreshold,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tollway.models.workflow import Workflow

__all__ = [
    "DEFAULT_TENANT",
    "AlertCrossing",
    "AlertThreshold",
    "Api",
    "ApiKey",
    "ApiPolicy",
    "Application",
    "ApplicationKey",
    "ConfigVersion",
    "Invoice",
    "InvoiceLineRow",
    "JobLock",
    "LedgerCustomer",
    "LedgerPlan",
    "LedgerSubscription",
    "LedgerUsageRecord",
    "MonApiTierPlan",
    "MonPlatformCustomer",
    "MonPolicyPlan",
    "MonSharedCustomer",
    "MonSubscription",
    "OAuthClient",
    "OAuthToken",
    "PolicyPriceTier",
    "SpendCap",
    "Subscription",
    "SubscriptionPolicy",
    "Tenant",
    "UsageEventRow",
    "UsagePublishJob",
    "UsagePublishRecord",
    "UsageRollup",
    "User",
    "UserRole",
    "Wallet",
    "WalletEntry",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "Workflow",
]
