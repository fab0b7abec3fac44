"""Subscribing an application to an API with one of its plans; blocking and unsubscribing.

The monetization hooks run inside the transaction after the flush (a billing engine may refuse);
every change tells the gateway to reload. Changes to an existing subscription first lock its row
(``repository.lock``), so that requests racing for it (parallel DELETEs, a block during an
unsubscribe) run one after the other and each sees what the one before it left: one removal
answers 200, the others 404, and the hooks run once.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tollway.apis import lifecycle
from tollway.apis.offers import is_offered
from tollway.apis.repository import get_api, policies_of
from tollway.applications import repository as applications
from tollway.applications.service import owner_id, require_approved
from tollway.billing.hooks import MonetizationHooks
from tollway.config import Settings
from tollway.db.base import utcnow
from tollway.db.integrity import flush_or_conflict
from tollway.errors import BadRequest, Conflict, NotFound
from tollway.events import status_changed
from tollway.identity.principal import Principal
from tollway.models import Api, Application, Subscription
from tollway.models import workflow as workflows
from tollway.models.changes import mark_gateway_config_changed
from tollway.models.workflow import approval_required
from tollway.subscriptions import repository
from tollway.subscriptions.schemas import SubscriptionIn

UNBLOCKED, BLOCKED, PROD_ONLY_BLOCKED = "UNBLOCKED", "BLOCKED", "PROD_ONLY_BLOCKED"
ON_HOLD, DELETE_PENDING, REJECTED = "ON_HOLD", "DELETE_PENDING", "REJECTED"
BLOCKABLE = (UNBLOCKED, BLOCKED, PROD_ONLY_BLOCKED)


def get_owned(session: Session, caller: Principal, subscription_id: str) -> Subscription:
    subscription = repository.get_owned(session, caller.tenant_id, owner_id(caller), subscription_id)
    if subscription is None:
        raise NotFound(f"subscription {subscription_id!r} not found")
    return subscription


def get_in_tenant(session: Session, tenant_id: str, subscription_id: str) -> Subscription:
    subscription = repository.get_in_tenant(session, tenant_id, subscription_id)
    if subscription is None:
        raise NotFound(f"subscription {subscription_id!r} not found")
    return subscription


def subscribe(
    session: Session, hooks: MonetizationHooks, settings: Settings, caller: Principal, body: SubscriptionIn
) -> Subscription:
    app = applications.get_owned(session, caller.tenant_id, owner_id(caller), body.applicationId)
    if app is None:
        raise NotFound(f"application {body.applicationId!r} not found")
    require_approved(app)
    api = get_api(session, caller.tenant_id, body.apiId)
    if api is None or api.lifecycle_status not in lifecycle.VISIBLE_STATES:
        raise NotFound(f"API {body.apiId!r} not found")
    if api.lifecycle_status != lifecycle.PUBLISHED:
        raise Conflict(f"the API is {api.lifecycle_status}; only PUBLISHED APIs take new subscriptions")
    attached = policies_of(session, api)
    offers = ", ".join(p.name for p in attached if is_offered(api, p)) or "no plan at present"
    policy = next((p for p in attached if p.name == body.throttlingPolicy), None)
    if policy is None:
        raise BadRequest(
            f"'throttlingPolicy': the API does not offer {body.throttlingPolicy!r}; it offers {offers}"
        )
    if not is_offered(api, policy):
        raise BadRequest(
            f"'throttlingPolicy': {policy.name!r} is a paid plan and monetization of this API is "
            f"disabled, so it takes no new subscriptions; the API offers {offers}"
        )
    if repository.find(session, app.id, api.id) is not None:
        raise Conflict("the application is already subscribed to this API")
    approval = approval_required(session, settings, caller.tenant_id, "subscription_creation")
    subscription = Subscription(
        tenant_id=caller.tenant_id,
        application_id=app.id,
        api_id=api.id,
        policy_id=policy.id,
        status=ON_HOLD if approval else UNBLOCKED,
    )
    session.add(subscription)
    flush_or_conflict(session, "the application is already subscribed to this API")
    if approval:
        properties = {
            "applicationName": app.name,
            "apiName": api.name,
            "apiVersion": api.version,
            "apiContext": api.context,
            "throttlingPolicy": policy.name,
            "subscriber": caller.username,
        }
        workflows.open_workflow(
            session,
            caller.tenant_id,
            workflows.SUBSCRIPTION_CREATION,
            subscription.id,
            caller.username,
            properties,
        )
    hooks.subscription_created(session, subscription)
    mark_gateway_config_changed(session)
    return subscription


def unsubscribe(
    session: Session,
    hooks: MonetizationHooks,
    settings: Settings,
    subscription: Subscription,
    caller: Principal,
) -> bool:
    """Remove the subscription; with the approval workflow only mark it DELETE_PENDING (returns
    False). One that never became active (ON_HOLD, REJECTED) goes at once, its request with it."""
    _lock(session, subscription)
    if subscription.status == DELETE_PENDING:
        return False  # asked already: the admin's decision is pending
    held = subscription.status in (ON_HOLD, REJECTED)
    if not held and approval_required(session, settings, subscription.tenant_id, "subscription_deletion"):
        previous = subscription.status
        _set_status(session, subscription, DELETE_PENDING)
        properties = {**_described(session, subscription), "previousStatus": previous}
        workflows.open_workflow(
            session,
            subscription.tenant_id,
            workflows.SUBSCRIPTION_DELETION,
            subscription.id,
            caller.username,
            properties,
        )
        return False
    remove(session, hooks, subscription)
    return True


def remove(session: Session, hooks: MonetizationHooks, subscription: Subscription) -> None:
    """Delete the subscription (through the billing hooks) and any request still waiting about it."""
    hooks.subscription_deleting(session, subscription)
    workflows.drop_pending(session, subscription.id)
    session.delete(subscription)
    session.flush()
    mark_gateway_config_changed(session)


def activate(session: Session, hooks: MonetizationHooks, subscription: Subscription) -> None:
    """An approved subscription starts: the billing engine first (it may refuse), then the gateway."""
    _lock(session, subscription)
    if subscription.status != ON_HOLD:
        raise Conflict(f"the subscription is {subscription.status}, not ON_HOLD")
    _set_status(session, subscription, UNBLOCKED)
    hooks.subscription_activated(session, subscription)


def set_decided_status(session: Session, subscription: Subscription, expected: str, status: str) -> None:
    """A workflow's decision that only moves the status (a rejection, a refused removal)."""
    _lock(session, subscription)
    if subscription.status != expected:
        raise Conflict(f"the subscription is {subscription.status}, not {expected}")
    _set_status(session, subscription, status)


def _described(session: Session, subscription: Subscription) -> dict[str, str]:
    """What an admin sees of a subscription in a workflow: application, API and plan."""
    app = session.get(Application, subscription.application_id)
    api = session.get(Api, subscription.api_id)
    return {
        "applicationName": app.name if app is not None else "",
        "apiName": api.name if api is not None else "",
        "apiVersion": api.version if api is not None else "",
        "apiContext": api.context if api is not None else "",
        "throttlingPolicy": repository.policy_name(session, subscription.policy_id) or "",
    }


def block(session: Session, subscription: Subscription, state: str) -> Subscription:
    _lock(session, subscription)
    if subscription.status not in BLOCKABLE:
        raise Conflict(f"a subscription that is {subscription.status} cannot be blocked")
    _set_status(session, subscription, state)
    return subscription


def unblock(session: Session, subscription: Subscription) -> Subscription:
    _lock(session, subscription)
    if subscription.status not in BLOCKABLE:
        raise Conflict(f"a subscription that is {subscription.status} cannot be unblocked")
    _set_status(session, subscription, UNBLOCKED)
    return subscription


def _lock(session: Session, subscription: Subscription) -> None:
    """Hold the subscription for this transaction with its current values (NotFound once removed)."""
    if not repository.lock(session, subscription):
        raise NotFound(f"subscription {subscription.id!r} not found")


def _set_status(session: Session, subscription: Subscription, status: str) -> None:
    if subscription.status == status:
        return
    previous = subscription.status
    subscription.status = status
    subscription.status_reason = None
    subscription.updated_at = utcnow()
    session.flush()
    mark_gateway_config_changed(session)
    status_changed(session, subscription, previous)
