"""Webhook pages both portals share: endpoints with the add form, and an endpoint's delivery log.

The developer portal shows one application's endpoints (``application_id``), the publisher portal
the tenant's (None); ``base`` is where the pages live (``/devportal/applications/{id}/webhooks``
or ``/publisher/webhooks``). The routes are declared by each portal, before its catch-all 404.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.responses import Response

from tollway.errors import TollwayError
from tollway.portals import services
from tollway.portals.forms import FormReader, field_errors, humanize
from tollway.portals.web import PortalContext, error_message

LABELS = {"url": "URL", "eventTypes": "Events"}
URL_SHAPE = "Must be an http:// or https:// address, without spaces, of at most 2048 characters."


def endpoints_page(
    ctx: PortalContext,
    application_id: str | None,
    base: str,
    *,
    created: dict[str, Any] | None = None,
    adding: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.unit_of_work() as db:
        app = services.get_application(db, ctx.principal, application_id) if application_id else None
        listed = services.endpoints(db, ctx.principal, application_id)
    response = ctx.render(
        "webhooks.html",
        status_code=status_code,
        title=f"Webhooks of {app['name']}" if app else "Webhooks",
        app=app,
        base=base,
        endpoints=listed,
        event_types=services.EVENT_TYPES,
        created=created,
        adding=adding or {"url": "", "eventTypes": [], "errors": {}, "error": None},
    )
    # The signing secret is on this page once: never cached by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


def add(ctx: PortalContext, application_id: str | None, base: str, form: FormData) -> Response:
    """Register an endpoint and show its signing secret this once; a refusal under its field."""
    fields = FormReader(form)
    url, chosen = fields.text("url"), fields.all("eventTypes")
    try:
        with ctx.unit_of_work() as db:
            made = services.add_endpoint(db, ctx.runtime, ctx.principal, application_id, url, chosen)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        errors, error = refusal_of(error_message(exc))
        adding = {"url": url, "eventTypes": chosen, "errors": errors, "error": error}
        return endpoints_page(ctx, application_id, base, adding=adding, status_code=exc.status_code)
    return endpoints_page(ctx, application_id, base, created=made)


def refusal_of(message: str) -> tuple[dict[str, str], str | None]:
    """The service says ``url: …`` and the schema ``'url': …``: both shown under the URL field."""
    if message.startswith("url:"):  # one sentence, "; " included: all of it is about the URL
        errors, error = {"url": humanize(message.removeprefix("url:").strip(), LABELS)}, None
    else:
        errors, error = field_errors(message, LABELS)
    if "pattern" in errors.get("url", "") or "at least" in errors.get("url", ""):
        errors["url"] = URL_SHAPE
    if errors and not error:
        error = "The endpoint was not added: correct the field marked below."
    return errors, error


def delete(ctx: PortalContext, application_id: str | None, base: str, endpoint_id: str) -> Response:
    with ctx.unit_of_work() as db:
        services.delete_endpoint(db, ctx.principal, application_id, endpoint_id)
    return ctx.redirect(base, flash="The webhook endpoint was deleted; nothing more is sent to it.")


def endpoint_page(ctx: PortalContext, application_id: str | None, base: str, endpoint_id: str) -> Response:
    with ctx.unit_of_work() as db:
        app = services.get_application(db, ctx.principal, application_id) if application_id else None
        endpoint, total, deliveries = services.endpoint_log(db, ctx.principal, application_id, endpoint_id)
    return ctx.render(
        "webhook_endpoint.html",
        title="Webhook endpoint",
        app=app,
        base=base,
        endpoint=endpoint,
        total=total,
        deliveries=deliveries,
    )


def redeliver(
    ctx: PortalContext, application_id: str | None, base: str, endpoint_id: str, delivery_id: str
) -> Response:
    with ctx.unit_of_work() as db:
        services.redeliver(db, ctx.principal, application_id, endpoint_id, delivery_id)
    return ctx.redirect(
        f"{base}/{endpoint_id}", flash="The delivery will be sent again within a few seconds."
    )
