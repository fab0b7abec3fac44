"""The publisher portal: APIs (create, publish), the Monetization tab, subscriptions, revenue,
prepaid credit granted to subscribers, and the tenant's webhooks."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from tollway.billing.attributes import api_attributes
from tollway.errors import TollwayError
from tollway.portals import services, webhook_pages
from tollway.portals.forms import FormReader, field_errors, humanize, strip_none
from tollway.portals.web import (
    Form,
    PortalContext,
    PortalRoute,
    PublisherUser,
    add_not_found_page,
    error_message,
)

router = APIRouter(prefix="/publisher", route_class=PortalRoute, include_in_schema=False)

API_LABELS = {
    "name": "Name",
    "context": "Context",
    "version": "Version",
    "description": "Description",
    "policies": "Business plans",
    "endpointConfig.production_endpoints.url": "Production endpoint",
    "production_endpoints": "Production endpoint",
    "url": "Production endpoint",
}
MONETIZATION_LABELS = {"lifeCycleStatus": "Lifecycle state", "policies": "Business plans"}

GRANT_LABELS = {
    "owner": "Subscriber",
    "currency": "Currency",
    "amount": "Amount",
    "reason": "Reason",
    "expiresAt": "Expiry date",
}

TABS = [
    ("overview", "Overview"),
    ("monetization", "Monetization"),
    ("subscriptions", "Subscriptions"),
    ("revenue", "Revenue"),
]


@router.get("/")
@router.get("")
def home(ctx: PortalContext = PublisherUser) -> Response:
    return RedirectResponse("/publisher/apis", status_code=303)


@router.get("/apis")
def apis(ctx: PortalContext = PublisherUser) -> Response:
    with ctx.unit_of_work() as db:
        listed = services.list_apis(db, ctx.principal)
    return ctx.render("publisher/apis.html", title="APIs", apis=listed)


@router.get("/apis/new")
def new_api(ctx: PortalContext = PublisherUser) -> Response:
    return _api_form(ctx, {"version": "1.0.0", "policies": []})


@router.post("/apis/new")
def create_api(ctx: PortalContext = PublisherUser, form: FormData = Form) -> Response:
    f = FormReader(form)
    try:
        body = api_body(f)
        with ctx.unit_of_work() as db:
            created = services.create_api(db, ctx.runtime, ctx.principal, body)
    except TollwayError as exc:
        values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        values["policies"] = f.all("policies")
        return _api_form(ctx, values, error=humanize(error_message(exc), API_LABELS))
    return ctx.redirect(f"/publisher/apis/{created['id']}", flash=f"API {created['name']} was created.")


def api_body(f: FormReader) -> dict[str, Any]:
    endpoint = f.required("endpoint", "Production endpoint")
    body = {
        "name": f.required("name", "Name"),
        "context": f.required("context", "Context"),
        "version": f.required("version", "Version"),
        "description": f.optional("description"),
        "policies": f.all("policies"),
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": endpoint}},
    }
    cleaned: dict[str, Any] = strip_none(body)
    return cleaned


def _api_form(
    ctx: PortalContext, values: dict[str, Any], error: str | None = None, api_id: str | None = None
) -> Response:
    with ctx.unit_of_work() as db:
        plans = services.list_plans(db, ctx.principal)
    return ctx.render(
        "publisher/api_form.html",
        status_code=400 if error else 200,
        title="Edit the API" if api_id else "Create an API",
        v=values,
        plans=plans,
        error=error,
        api_id=api_id,
    )


@router.get("/apis/{api_id}/edit")
def edit_api(api_id: str, ctx: PortalContext = PublisherUser) -> Response:
    with ctx.unit_of_work() as db:
        api = services.get_api(db, ctx.principal, api_id)
    values = {
        "name": api["name"],
        "context": api["context"],
        "version": api["version"],
        "description": api.get("description") or "",
        "endpoint": (api.get("endpointConfig") or {}).get("production_endpoints", {}).get("url", ""),
        "policies": api.get("policies") or [],
    }
    return _api_form(ctx, values, api_id=api_id)


@router.post("/apis/{api_id}/edit")
def update_api(api_id: str, ctx: PortalContext = PublisherUser, form: FormData = Form) -> Response:
    f = FormReader(form)
    try:
        changes = api_body(f)
        changes["endpoint"] = changes.pop("endpointConfig")["production_endpoints"]["url"]
        changes.setdefault("description", None)
        with ctx.unit_of_work() as db:
            updated = services.update_api(db, ctx.runtime, ctx.principal, api_id, changes)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        values["policies"] = f.all("policies")
        return _api_form(ctx, values, error=humanize(error_message(exc), API_LABELS), api_id=api_id)
    return ctx.redirect(f"/publisher/apis/{api_id}", flash=f"API {updated['name']} was updated.")


@router.post("/apis/{api_id}/delete")
def delete_api(api_id: str, ctx: PortalContext = PublisherUser, form: FormData = Form) -> Response:
    try:
        with ctx.unit_of_work() as db:
            name = services.delete_api(db, ctx.runtime, ctx.principal, api_id)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return _api_page(ctx, api_id, "overview", "publisher/api_overview.html", error=error_message(exc))
    return ctx.redirect("/publisher/apis", flash=f"API {name} was deleted.")


def _api_page(ctx: PortalContext, api_id: str, tab: str, template: str, **values: Any) -> Response:
    with ctx.unit_of_work() as db:
        api = services.get_api(db, ctx.principal, api_id)
    return ctx.render(
        template, title=f"{api['name']} {api['version']}", api=api, tabs=TABS, tab=tab, **values
    )


@router.get("/apis/{api_id}")
def api_overview(api_id: str, ctx: PortalContext = PublisherUser) -> Response:
    return _api_page(ctx, api_id, "overview", "publisher/api_overview.html", error=None)


@router.post("/apis/{api_id}/lifecycle")
def change_lifecycle(api_id: str, ctx: PortalContext = PublisherUser, form: FormData = Form) -> Response:
    action = FormReader(form).text("action") or "Publish"
    try:
        with ctx.unit_of_work() as db:
            state = services.change_lifecycle(db, ctx.runtime, ctx.principal, api_id, action)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return _api_page(ctx, api_id, "overview", "publisher/api_overview.html", error=error_message(exc))
    return ctx.redirect(f"/publisher/apis/{api_id}", flash=f"The API is now {state}.")


@router.get("/apis/{api_id}/monetization")
def monetization_tab(api_id: str, ctx: PortalContext = PublisherUser) -> Response:
    return _monetization_tab(ctx, api_id)


def _monetization_tab(
    ctx: PortalContext, api_id: str, error: str | None = None, submitted: dict[str, Any] | None = None
) -> Response:
    with ctx.unit_of_work() as db:
        current = services.get_api_monetization(db, ctx.runtime, ctx.principal, api_id)
    if submitted is not None:
        current = {**current, **submitted}
    attributes = api_attributes(ctx.runtime.billing, ctx.runtime.settings)
    response = _api_page(
        ctx,
        api_id,
        "monetization",
        "publisher/api_monetization.html",
        monetization=current,
        attributes=attributes,
        error=error,
    )
    if error:
        response.status_code = 400
    return response


@router.post("/apis/{api_id}/monetization")
def save_monetization(api_id: str, ctx: PortalContext = PublisherUser, form: FormData = Form) -> Response:
    f = FormReader(form)
    enabled = f.checked("enabled")
    properties = {
        attr.name: f.text(f"prop_{attr.name}")
        for attr in api_attributes(ctx.runtime.billing, ctx.runtime.settings)
        if f.text(f"prop_{attr.name}")
    }
    try:
        with ctx.unit_of_work() as db:
            services.set_api_monetization(db, ctx.runtime, ctx.principal, api_id, enabled, properties)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        submitted = {"enabled": enabled, "attributes": properties}
        labels = MONETIZATION_LABELS | {
            a.name: a.display_name for a in api_attributes(ctx.runtime.billing, ctx.runtime.settings)
        }
        error = humanize(error_message(exc), labels)
        return _monetization_tab(ctx, api_id, error=error, submitted=submitted)
    message = "Monetization was enabled." if enabled else "Monetization was disabled."
    return ctx.redirect(f"/publisher/apis/{api_id}/monetization", flash=message)


@router.get("/apis/{api_id}/subscriptions")
def subscriptions_tab(api_id: str, ctx: PortalContext = PublisherUser) -> Response:
    with ctx.unit_of_work() as db:
        subs = services.api_subscriptions(db, ctx.principal, api_id)
    return _api_page(ctx, api_id, "subscriptions", "publisher/api_subscriptions.html", subscriptions=subs)


BLOCK_WORDS = {
    "UNBLOCKED": "unblocked",
    "BLOCKED": "blocked",
    "PROD_ONLY_BLOCKED": "blocked for production keys",
}


@router.post("/apis/{api_id}/subscriptions/{subscription_id}/block")
def block_subscription(
    api_id: str, subscription_id: str, ctx: PortalContext = PublisherUser, form: FormData = Form
) -> Response:
    state = FormReader(form).text("state")
    back = f"/publisher/apis/{api_id}/subscriptions"
    try:
        with ctx.unit_of_work() as db:
            status = services.set_subscription_block(db, ctx.principal, api_id, subscription_id, state)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return ctx.redirect(back, flash=f"Nothing changed: {error_message(exc)}")
    words = BLOCK_WORDS.get(status, status)
    return ctx.redirect(back, flash=f"The subscription is {words}; the gateway applies it within a second.")


@router.get("/apis/{api_id}/subscriptions/{subscription_id}/invoice")
def subscription_invoice(api_id: str, subscription_id: str, ctx: PortalContext = PublisherUser) -> Response:
    with ctx.unit_of_work() as db:
        invoice = services.publisher_invoice(db, ctx.runtime, ctx.principal, api_id, subscription_id)
    return _api_page(
        ctx,
        api_id,
        "subscriptions",
        "publisher/api_invoice.html",
        invoice=invoice,
        back=f"/publisher/apis/{api_id}/subscriptions",
    )


@router.get("/apis/{api_id}/revenue")
def revenue_tab(api_id: str, ctx: PortalContext = PublisherUser) -> Response:
    with ctx.unit_of_work() as db:
        revenue = services.api_revenue(db, ctx.runtime, ctx.principal, api_id)
    return _api_page(ctx, api_id, "revenue", "publisher/api_revenue.html", revenue=revenue)


# ---------------------------------------------------------------------------------------------
# Prepaid credit: grants to the tenant's subscribers and their wallets


@router.get("/wallets")
def wallets(ctx: PortalContext = PublisherUser) -> Response:
    with ctx.unit_of_work() as db:
        listed = services.subscriber_wallets(db, ctx.principal)
    return ctx.render("publisher/wallets.html", title="Subscribers' wallets", wallets=listed)


@router.get("/wallets/grant")
def grant_form(ctx: PortalContext = PublisherUser) -> Response:
    query = ctx.request.query_params
    return _grant_form(ctx, {"owner": query.get("owner", ""), "currency": query.get("currency", "")})


@router.post("/wallets/grant")
def grant(ctx: PortalContext = PublisherUser, form: FormData = Form) -> Response:
    """As POST /api/am/publisher/v1/wallets/credits: a GRANT; the same form sent twice grants once."""
    f = FormReader(form)
    values = {name: f.text(name) for name in (*GRANT_LABELS, "reference")}
    try:
        fields = {name: value or None for name, value in values.items()}
        fields["expiresAt"] = services.expiry_of(values["expiresAt"])
        with ctx.unit_of_work() as db:
            made = services.grant(db, ctx.principal, fields)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return _grant_form(ctx, values, refusal=error_message(exc))
    entry, wallet = made["entry"], made["wallet"]
    currency = wallet["currency"]
    if made["created"]:
        note = f"{entry['amount']} {currency} was granted to {wallet['owner']}."
    else:
        note = "This grant was already recorded (the form was sent twice); nothing changed."
    return ctx.redirect(
        "/publisher/wallets", flash=f"{note} Their balance is {wallet['balance']} {currency}."
    )


def _grant_form(ctx: PortalContext, values: dict[str, str], refusal: str | None = None) -> Response:
    """The grant form; a refusal is shown under the fields it names (the service's 'field': words)."""
    if not values.get("reference"):
        # The same form sent twice (a double click, a reload) grants once: see wallets.service.credit.
        values["reference"] = f"portal:{uuid.uuid4().hex}"
    errors, error = field_errors(refusal, GRANT_LABELS) if refusal else ({}, None)
    if errors and not error:
        marked = "field" if len(errors) == 1 else "fields"
        error = f"No credit was granted: correct the {marked} marked below."
    return ctx.render(
        "publisher/grant_form.html",
        status_code=400 if refusal else 200,
        title="Grant credit",
        v=values,
        errors=errors,
        error=error,
    )


# ---------------------------------------------------------------------------------------------
# The tenant's webhooks (pages shared with the developer portal)

HOOKS = "/publisher/webhooks"


@router.get("/webhooks")
def webhooks(ctx: PortalContext = PublisherUser) -> Response:
    return webhook_pages.endpoints_page(ctx, None, HOOKS)


@router.post("/webhooks")
def add_webhook(ctx: PortalContext = PublisherUser, form: FormData = Form) -> Response:
    return webhook_pages.add(ctx, None, HOOKS, form)


@router.get("/webhooks/{endpoint_id}")
def webhook(endpoint_id: str, ctx: PortalContext = PublisherUser) -> Response:
    return webhook_pages.endpoint_page(ctx, None, HOOKS, endpoint_id)


@router.post("/webhooks/{endpoint_id}/delete")
def delete_webhook(endpoint_id: str, ctx: PortalContext = PublisherUser, form: FormData = Form) -> Response:
    return webhook_pages.delete(ctx, None, HOOKS, endpoint_id)


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
def redeliver_webhook(
    endpoint_id: str, delivery_id: str, ctx: PortalContext = PublisherUser, form: FormData = Form
) -> Response:
    return webhook_pages.redeliver(ctx, None, HOOKS, endpoint_id, delivery_id)


add_not_found_page(router)
