"""The portals' one door to the domain services.

Every page calls the same service functions as the REST endpoint for the same action, with the
same caller (the signed-in user as a :class:`~tollway.identity.principal.Principal` with the scopes
their roles allow), and gets back the REST contract's shapes (plain dicts), so the templates are
written against the documented API and not against the ORM. Nothing here decides a business rule.
"""

from tollway.errors import BadRequest, NotFound
from tollway.events import EVENT_TYPES
from tollway.monetization.top_ups import NoPayments
from tollway.portals.services.admin import (
    publish_status,
    set_tenant_keys,
    start_usage_publishing,
    tenant_keys_set,
)
from tollway.portals.services.alerts import add_threshold, delete_threshold, my_thresholds
from tollway.portals.services.identity import authenticate, sign_up
from tollway.portals.services.invoices import (
    my_invoice,
    my_invoices,
    record_payment,
    tenant_invoice,
    tenant_invoices,
)
from tollway.portals.services.plans import create_plan, delete_plan, get_plan, list_plans, update_plan
from tollway.portals.services.publisher import (
    api_revenue,
    api_subscriptions,
    change_lifecycle,
    create_api,
    get_api,
    get_api_monetization,
    list_apis,
    publisher_invoice,
    set_api_monetization,
)
from tollway.portals.services.store import (
    application_keys,
    catalog,
    catalog_api,
    create_application,
    generate_keys,
    generate_token,
    get_application,
    list_applications,
    my_subscription,
    my_subscriptions,
    subscribe,
    subscribed_application_ids,
    subscriber_invoice,
    unsubscribe,
)
from tollway.portals.services.usage import DailyUsage, daily_usage
from tollway.portals.services.wallets import (
    buy_credit,
    credit,
    expiry_of,
    grant,
    my_prepaid_currencies,
    my_spend_cap,
    my_wallet,
    my_wallets,
    remove_my_spend_cap,
    set_my_spend_cap,
    subscriber_wallets,
    tenant_wallet,
    tenant_wallets,
)
from tollway.portals.services.webhooks import (
    add_endpoint,
    delete_endpoint,
    endpoint_log,
    endpoints,
    redeliver,
)
from tollway.portals.services.workflows import decide_task, tasks

__all__ = [
    "EVENT_TYPES",
    "BadRequest",
    "DailyUsage",
    "NoPayments",
    "NotFound",
    "add_endpoint",
    "add_threshold",
    "api_revenue",
    "api_subscriptions",
    "application_keys",
    "authenticate",
    "buy_credit",
    "catalog",
    "catalog_api",
    "change_lifecycle",
    "create_api",
    "create_application",
    "create_plan",
    "credit",
    "daily_usage",
    "decide_task",
    "delete_endpoint",
    "delete_plan",
    "delete_threshold",
    "endpoint_log",
    "endpoints",
    "expiry_of",
    "generate_keys",
    "generate_token",
    "get_api",
    "get_api_monetization",
    "get_application",
    "get_plan",
    "grant",
    "list_apis",
    "list_applications",
    "list_plans",
    "my_invoice",
    "my_invoices",
    "my_prepaid_currencies",
    "my_spend_cap",
    "my_subscription",
    "my_subscriptions",
    "my_thresholds",
    "my_wallet",
    "my_wallets",
    "publish_status",
    "publisher_invoice",
    "record_payment",
    "redeliver",
    "remove_my_spend_cap",
    "set_api_monetization",
    "set_my_spend_cap",
    "set_tenant_keys",
    "sign_up",
    "start_usage_publishing",
    "subscribe",
    "subscribed_application_ids",
    "subscriber_invoice",
    "subscriber_wallets",
    "tasks",
    "tenant_invoice",
    "tenant_invoices",
    "tenant_keys_set",
    "tenant_wallet",
    "tenant_wallets",
    "unsubscribe",
    "update_plan",
]
