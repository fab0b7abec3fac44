"""Applications: a subscriber's own; nobody else (not even in the same tenant) sees them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from tollway.applications import repository
from tollway.applications.schemas import ApplicationIn, ApplicationOut
from tollway.billing.hooks import MonetizationHooks
from tollway.config import Settings
from tollway.db.base import utcnow
from tollway.db.integrity import flush_or_conflict
from tollway.errors import BadRequest, Conflict, Forbidden, NotFound
from tollway.identity.principal import Principal
from tollway.models import Application
from tollway.models import workflow as workflows
from tollway.models.changes import mark_gateway_config_changed
from tollway.models.workflow import approval_required


def owner_id(caller: Principal) -> str:
    """Applications belong to users; a token issued to an application itself cannot manage them."""
    if caller.user_id is None:
        raise Forbidden("applications are managed with a user's token")
    return caller.user_id


def get_application(session: Session, caller: Principal, application_id: str) -> Application:
    app = repository.get_owned(session, caller.tenant_id, owner_id(caller), application_id)
    if app is None:
        raise NotFound(f"application {application_id!r} not found")
    return app


def list_applications(
    session: Session, caller: Principal, *, query: str | None, limit: int, offset: int
) -> tuple[int, Sequence[Application]]:
    return repository.list_owned(
        session, caller.tenant_id, owner_id(caller), query=query, limit=limit, offset=offset
    )


def _check_name(session: Session, caller: Principal, name: str, current: Application | None) -> None:
    clash = repository.find_by_name(session, caller.tenant_id, owner_id(caller), name)
    if clash is not None and (current is None or clash.id != current.id):
        raise Conflict(f"you already have an application named {name!r}")


def _apply(app: Application, body: ApplicationIn) -> None:
    app.name = body.name
    app.throttling_policy = body.throttlingPolicy
    app.description = body.description
    app.token_type = body.tokenType
    app.attributes = dict(body.attributes)


def create_application(
    session: Session, settings: Settings, caller: Principal, body: ApplicationIn
) -> Application:
    """A new application; CREATED (no keys, no subscriptions) while the tenant's
    application-creation workflow waits for an admin."""
    _check_name(session, caller, body.name, None)
    app = Application(tenant_id=caller.tenant_id, owner_id=owner_id(caller))
    _apply(app, body)
    if approval_required(session, settings, caller.tenant_id, "application_creation"):
        app.status = workflows.CREATED
    session.add(app)
    flush_or_conflict(session, f"you already have an application named {body.name!r}")
    if app.status == workflows.CREATED:
        properties = {
            "applicationName": app.name,
            "applicationTier": app.throttling_policy,
            "description": app.description or "",
            "subscriber": caller.username,
        }
        workflows.open_workflow(
            session, caller.tenant_id, workflows.APPLICATION_CREATION, app.id, caller.username, properties
        )
    return app


def require_approved(app: Application) -> None:
    """Keys and subscriptions are for applications an admin let in (when approval applies)."""
    if app.status == workflows.CREATED:
        raise Conflict(f"application {app.name!r} awaits an admin's approval (status CREATED)")
    if app.status == workflows.REJECTED:
        raise Conflict(f"application {app.name!r} was rejected by an admin; delete it or create another")


def update_application(
    session: Session, caller: Principal, app: Application, body: ApplicationIn
) -> Application:
    if body.applicationId is not None and body.applicationId != app.id:
        raise BadRequest("'applicationId': does not match the application in the path")
    if body.owner is not None and body.owner != caller.username:
        raise BadRequest("'owner': an application cannot be given to another user")
    _check_name(session, caller, body.name, app)
    _apply(app, body)
    app.updated_at = utcnow()
    flush_or_conflict(session, f"you already have an application named {body.name!r}")
    return app


def delete_application(session: Session, hooks: MonetizationHooks, app: Application) -> None:
    """Delete the application with its subscriptions (each through the billing hooks), keys and tokens."""
    for subscription in repository.subscriptions_of(session, app.id):
        hooks.subscription_deleting(session, subscription)
        workflows.drop_pending(session, subscription.id)
        session.delete(subscription)
    workflows.drop_pending(session, app.id)
    session.flush()
    # Keys, API keys, OAuth clients and their tokens go with it (ON DELETE CASCADE).
    session.delete(app)
    session.flush()
    mark_gateway_config_changed(session)


def application_out(app: Application, owner: str, subscription_count: int) -> ApplicationOut:
    return ApplicationOut(
        applicationId=app.id,
        name=app.name,
        throttlingPolicy=app.throttling_policy,
        description=app.description,
        tokenType=app.token_type,
        owner=owner,
        status=app.status,
        subscriptionCount=subscription_count,
        attributes={str(k): str(v) for k, v in (app.attributes or {}).items()},
    )
