"""The developer portal: catalog, subscribe with a plan, applications and keys, invoices, usage, wallets,
alert thresholds and the applications' webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from tollway.errors import TollwayError
from tollway.models import DEFAULT_TENANT
from tollway.portals import services, webhook_pages
from tollway.portals.charts import responsive_balance_chart, responsive_daily_chart
from tollway.portals.forms import FormReader, field_errors, humanize
from tollway.portals.web import (
    Form,
    PortalContext,
    PortalRoute,
    SignedIn,
    Visitor,
    add_not_found_page,
    error_message,
)

WALLET_PAGE_ENTRIES = 20  # per wallet on the Wallet page; each wallet's own page shows more
TOP_UP_NOTES = {
    "paid": "Thank you: your payment was taken. The credit shows here as soon as the payment "
    "provider confirms it (usually within a minute); reload the page to see it.",
    "canceled": "The payment was canceled: nothing was charged and your balance is unchanged.",
}
NEW_CURRENCY = "new"  # the Buy credit form for a currency with no wallet yet
BUY_LABELS = {"amount": "Amount", "currency": "Currency"}
ALERT_LABELS = {
    "currency": "Currency",
    "amount": "Amount",
    "percent": "Percent",
    "subscriptionId": "Subscription",
    "requests": "Calls",
}
# The fields of each alert form (the subject's hidden input says which form was sent).
ALERT_FIELDS = {
    "WALLET": ("currency", "amount"),
    "SPEND": ("subscriptionId", "percent", "amount"),
    "QUOTA": ("subscriptionId", "percent", "requests"),
}
SIGNUP_LABELS = {"user.username": "Username", "user.password": "Password", "user.claims": "E-mail"}

router = APIRouter(prefix="/devportal", route_class=PortalRoute, include_in_schema=False)


@router.get("/")
@router.get("")
def home(ctx: PortalContext = Visitor) -> Response:
    return RedirectResponse("/devportal/apis", status_code=303)


def _tenant(ctx: PortalContext) -> str:
    """The signed-in user's tenant; visitors browse ?tenant=<domain> or the default tenant."""
    if ctx.user is not None:
        return ctx.user.tenant_domain
    return ctx.request.query_params.get("tenant") or DEFAULT_TENANT


# ---------------------------------------------------------------------------------------------
# Catalog and subscribing


@router.get("/apis")
def catalog(ctx: PortalContext = Visitor) -> Response:
    tenant = _tenant(ctx)
    with ctx.unit_of_work() as db:
        apis = services.catalog(db, tenant)
    return ctx.render("devportal/catalog.html", title="APIs", apis=apis, tenant=tenant)


@router.get("/apis/{api_id}")
def api_page(api_id: str, ctx: PortalContext = Visitor) -> Response:
    return _api_page(ctx, api_id)


def _api_page(
    ctx: PortalContext, api_id: str, error: str | None = None, chosen: dict[str, str] | None = None
) -> Response:
    with ctx.unit_of_work() as db:
        api = services.catalog_api(db, _tenant(ctx), api_id)
        apps = services.list_applications(db, ctx.principal) if ctx.user else []
        subscribed = services.subscribed_application_ids(db, ctx.principal, api_id) if ctx.user else set()
    return ctx.render(
        "devportal/api.html",
        status_code=400 if error else 200,
        title=f"{api['name']} {api['version']}",
        api=api,
        applications=[a for a in apps if a["applicationId"] not in subscribed],
        subscribed_count=len(subscribed),
        chosen=chosen or {},
        error=error,
    )


@router.post("/apis/{api_id}/subscribe")
def subscribe(api_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    f = FormReader(form)
    chosen = {"applicationId": f.text("applicationId"), "throttlingPolicy": f.text("throttlingPolicy")}
    try:
        if not chosen["applicationId"]:
            raise services.BadRequest("Choose an application to subscribe with.")
        if not chosen["throttlingPolicy"]:
            raise services.BadRequest("Choose a business plan.")
        with ctx.unit_of_work() as db:
            sub = services.subscribe(
                db, ctx.runtime, ctx.principal, api_id, chosen["applicationId"], chosen["throttlingPolicy"]
            )
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        error = humanize(error_message(exc), {"throttlingPolicy": "Business plan"})
        return _api_page(ctx, api_id, error=error, chosen=chosen)
    note = "" if sub.get("status") == "UNBLOCKED" else f" Its status is {sub.get('status')}."
    return ctx.redirect(
        f"/devportal/subscriptions/{sub['subscriptionId']}",
        flash=f"Subscribed with the {chosen['throttlingPolicy']} plan.{note}",
    )


# ---------------------------------------------------------------------------------------------
# Applications and keys


@router.get("/applications")
def applications(ctx: PortalContext = SignedIn) -> Response:
    return _applications_page(ctx)


def _applications_page(ctx: PortalContext, error: str | None = None, name: str = "") -> Response:
    with ctx.unit_of_work() as db:
        apps = services.list_applications(db, ctx.principal)
    return ctx.render(
        "devportal/applications.html",
        status_code=400 if error else 200,
        title="Applications",
        applications=apps,
        error=error,
        name=name,
    )


@router.post("/applications")
def create_application(ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    f = FormReader(form)
    name = f.text("name")
    try:
        if not name:
            raise services.BadRequest("Name is required.")
        with ctx.unit_of_work() as db:
            app = services.create_application(db, ctx.runtime, ctx.principal, name, f.optional("description"))
    except TollwayError as exc:
        return _applications_page(ctx, error=humanize(error_message(exc), {"name": "Name"}), name=name)
    return ctx.redirect(
        f"/devportal/applications/{app['applicationId']}", flash=f"Application {name} was created."
    )


API_KEY_LABELS = {"validityPeriod": "Validity", "apikey": "API key"}


@router.get("/applications/{application_id}")
def application(application_id: str, ctx: PortalContext = SignedIn) -> Response:
    return _application_page(ctx, application_id)


def _application_page(
    ctx: PortalContext,
    application_id: str,
    *,
    secrets: dict[str, Any] | None = None,
    error: str | None = None,
) -> Response:
    with ctx.unit_of_work() as db:
        app = services.get_application(db, ctx.principal, application_id)
        keys = services.application_keys(db, ctx.principal, application_id)
        subs = services.my_subscriptions(db, ctx.runtime, ctx.principal, application_id=application_id)
    response = ctx.render(
        "devportal/application.html",
        status_code=400 if error else 200,
        title=app["name"],
        app=app,
        keys=keys,
        subscriptions=subs,
        secrets=secrets,
        error=error,
        api_key_validity=services.API_KEY_VALIDITY,
    )
    # Secrets are on this page once: never cached by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/applications/{application_id}/delete")
def delete_application(application_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    with ctx.unit_of_work() as db:
        name = services.delete_application(db, ctx.runtime, ctx.principal, application_id)
    note = f"Application {name} was deleted: its subscriptions ended and its keys no longer work."
    return ctx.redirect("/devportal/applications", flash=note)


@router.post("/applications/{application_id}/keys")
def generate_keys(application_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    try:
        with ctx.unit_of_work() as db:
            generated = services.generate_keys(db, ctx.runtime, ctx.principal, application_id)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return _application_page(ctx, application_id, error=error_message(exc))
    return _application_page(ctx, application_id, secrets=generated)


@router.post("/applications/{application_id}/api-keys")
def generate_api_key(application_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    validity = FormReader(form).text("validity")
    try:
        with ctx.unit_of_work() as db:
            key = services.generate_api_key(db, ctx.runtime, ctx.principal, application_id, validity)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return _application_page(ctx, application_id, error=humanize(error_message(exc), API_KEY_LABELS))
    return _application_page(ctx, application_id, secrets={"apikey": key["apikey"], "keyValidity": validity})


@router.post("/applications/{application_id}/api-keys/revoke")
def revoke_api_key(application_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    key = FormReader(form).text("apikey")
    try:
        with ctx.unit_of_work() as db:
            services.revoke_api_key(db, ctx.principal, application_id, key)
    except TollwayError as exc:
        if exc.status_code == 404 and "API key" not in error_message(exc):
            raise
        return _application_page(ctx, application_id, error=humanize(error_message(exc), API_KEY_LABELS))
    flash = "The API key is revoked: the gateway refuses it within a second."
    return ctx.redirect(f"/devportal/applications/{application_id}", flash=flash)


@router.post("/applications/{application_id}/token")
def generate_token(application_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    secret = FormReader(form).text("consumerSecret")
    try:
        if not secret:
            raise services.BadRequest("Enter the consumer secret to generate an access token.")
        with ctx.unit_of_work() as db:
            token = services.generate_token(db, ctx.runtime, ctx.principal, application_id, secret)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        error = humanize(error_message(exc), {"consumerSecret": "Consumer secret"})
        return _application_page(ctx, application_id, error=error)
    return _application_page(ctx, application_id, secrets={"token": token})


# ---------------------------------------------------------------------------------------------
# Webhooks of the subscriber's applications (pages shared with the publisher portal)


def _hooks(application_id: str) -> str:
    return f"/devportal/applications/{application_id}/webhooks"


@router.get("/applications/{application_id}/webhooks")
def webhooks(application_id: str, ctx: PortalContext = SignedIn) -> Response:
    return webhook_pages.endpoints_page(ctx, application_id, _hooks(application_id))


@router.post("/applications/{application_id}/webhooks")
def add_webhook(application_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    return webhook_pages.add(ctx, application_id, _hooks(application_id), form)


@router.get("/applications/{application_id}/webhooks/{endpoint_id}")
def webhook(application_id: str, endpoint_id: str, ctx: PortalContext = SignedIn) -> Response:
    return webhook_pages.endpoint_page(ctx, application_id, _hooks(application_id), endpoint_id)


@router.post("/applications/{application_id}/webhooks/{endpoint_id}/delete")
def delete_webhook(
    application_id: str, endpoint_id: str, ctx: PortalContext = SignedIn, form: FormData = Form
) -> Response:
    return webhook_pages.delete(ctx, application_id, _hooks(application_id), endpoint_id)


@router.post("/applications/{application_id}/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
def redeliver_webhook(
    application_id: str,
    endpoint_id: str,
    delivery_id: str,
    ctx: PortalContext = SignedIn,
    form: FormData = Form,
) -> Response:
    return webhook_pages.redeliver(ctx, application_id, _hooks(application_id), endpoint_id, delivery_id)


# ---------------------------------------------------------------------------------------------
# Subscriptions, usage and invoices


@router.get("/subscriptions")
def subscriptions(ctx: PortalContext = SignedIn) -> Response:
    with ctx.unit_of_work() as db:
        subs = services.my_subscriptions(db, ctx.runtime, ctx.principal)
    return ctx.render("devportal/subscriptions.html", title="Subscriptions", subscriptions=subs)


@router.get("/subscriptions/{subscription_id}")
def subscription(subscription_id: str, ctx: PortalContext = SignedIn) -> Response:
    with ctx.unit_of_work() as db:
        sub = services.my_subscription(db, ctx.runtime, ctx.principal, subscription_id)
        usage = services.daily_usage(db, ctx.runtime, ctx.principal, subscription_id)
        cap = services.my_spend_cap(db, ctx.principal, subscription_id)
    return _subscription_page(ctx, sub, usage, cap)


def _subscription_page(
    ctx: PortalContext,
    sub: dict[str, Any],
    usage: Any,
    cap: dict[str, Any] | None,
    cap_error: str | None = None,
    cap_amount: str | None = None,
) -> Response:
    chart = responsive_daily_chart(usage.days, title="Billable calls per day") if usage.days else ""
    return ctx.render(
        "devportal/subscription.html",
        title=f"Subscription to {sub['apiName']}",
        sub=sub,
        usage=usage,
        chart=chart,
        cap=cap,
        cap_error=cap_error,
        cap_amount=cap_amount
        if cap_amount is not None
        else ((cap or {}).get("amount") if (cap or {}).get("source") == "SUBSCRIPTION" else ""),
        status_code=400 if cap_error else 200,
    )


@router.post("/subscriptions/{subscription_id}/spend-cap")
def spend_cap(subscription_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    """Set (HARD or SOFT) or remove the subscription's own spend cap; a refusal shows under the field."""
    fields = FormReader(form)
    amount, mode = fields.text("amount"), fields.text("mode")
    try:
        with ctx.unit_of_work() as db:
            if fields.text("action") == "remove":
                services.remove_my_spend_cap(db, ctx.principal, subscription_id)
                note = "Your own cap was removed."
            else:
                services.set_my_spend_cap(db, ctx.principal, subscription_id, amount, mode)
                note = "The spend cap was saved; the gateway applies it within a second."
    except TollwayError as exc:
        if exc.status_code == 404 and fields.text("action") != "remove":
            raise
        with ctx.unit_of_work() as db:
            sub = services.my_subscription(db, ctx.runtime, ctx.principal, subscription_id)
            usage = services.daily_usage(db, ctx.runtime, ctx.principal, subscription_id)
            cap = services.my_spend_cap(db, ctx.principal, subscription_id)
        words = error_message(exc).removeprefix("'amount': ").removeprefix("'mode': ")
        return _subscription_page(ctx, sub, usage, cap, cap_error=words, cap_amount=amount)
    return ctx.redirect(f"/devportal/subscriptions/{subscription_id}", flash=note)


@router.get("/invoices")
def invoices(ctx: PortalContext = SignedIn) -> Response:
    with ctx.unit_of_work() as db:
        listed = services.my_invoices(db, ctx.principal)
    return ctx.render("devportal/invoices.html", title="Invoices", invoices=listed)


@router.get("/invoices/{invoice_id}/pdf")
def stored_invoice_pdf(invoice_id: str, ctx: PortalContext = SignedIn) -> Response:
    with ctx.unit_of_work() as db:
        return services.my_invoice_pdf(db, ctx.principal, invoice_id)


@router.get("/invoices/{invoice_id}")
def stored_invoice(invoice_id: str, ctx: PortalContext = SignedIn) -> Response:
    with ctx.unit_of_work() as db:
        found = services.my_invoice(db, ctx.principal, invoice_id)
    return ctx.render(
        "devportal/stored_invoice.html", title=f"Invoice {found['number'] or ''}", invoice=found
    )


@router.get("/subscriptions/{subscription_id}/invoice")
def invoice(subscription_id: str, ctx: PortalContext = SignedIn) -> Response:
    with ctx.unit_of_work() as db:
        sub = services.my_subscription(db, ctx.runtime, ctx.principal, subscription_id)
        found = services.subscriber_invoice(db, ctx.runtime, ctx.principal, subscription_id)
    return ctx.render(
        "devportal/invoice.html",
        title=f"Invoice: {sub['apiName']}",
        sub=sub,
        invoice=found,
        back=f"/devportal/subscriptions/{subscription_id}",
    )


@router.post("/subscriptions/{subscription_id}/delete")
def unsubscribe(subscription_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    try:
        with ctx.unit_of_work() as db:
            services.unsubscribe(db, ctx.runtime, ctx.principal, subscription_id)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return ctx.redirect(f"/devportal/subscriptions/{subscription_id}", flash=error_message(exc))
    return ctx.redirect("/devportal/subscriptions", flash="The subscription was removed.")


# ---------------------------------------------------------------------------------------------
# Prepaid wallets (the signed-in subscriber's own)


@router.get("/wallets")
def wallets(ctx: PortalContext = SignedIn) -> Response:
    """Also where Stripe Checkout sends a buyer of credit back (tollway.monetization.top_ups)."""
    return _wallets_page(ctx)


def _wallets_page(
    ctx: PortalContext, buying: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    with ctx.unit_of_work() as db:
        found = services.my_wallets(db, ctx.principal, entries=WALLET_PAGE_ENTRIES)
        prepaid = services.my_prepaid_currencies(db, ctx.principal)
    top_up = TOP_UP_NOTES.get(ctx.request.query_params.get("top-up", ""))
    have = {wallet["currency"] for wallet in found}
    suggested = [code for code in prepaid if code not in have]
    return ctx.render(
        "devportal/wallet.html",
        status_code=status_code,
        title="Wallet",
        wallets=found,
        top_up=top_up,
        prepaid=prepaid,
        suggested=suggested,
        buying=buying or {"target": None, "currency": "", "amount": "", "errors": {}, "error": None},
    )


@router.post("/wallets/top-ups")
def buy_credit(ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    """Buy credit as POST /api/am/store/v1/wallets/{currency}/top-ups does: on to the payment page
    (Stripe Checkout), or the form again with the refusal under its field (the ledger takes no payments)."""
    fields = FormReader(form)
    currency, amount = fields.text("currency"), fields.text("amount")
    target = NEW_CURRENCY if fields.text("form") == NEW_CURRENCY else currency.upper()
    wallet_page = str(ctx.request.base_url).rstrip("/") + "/devportal/wallets"
    try:
        with ctx.unit_of_work() as db:
            made = services.buy_credit(db, ctx.runtime, ctx.principal, currency, amount, wallet_page)
    except TollwayError as exc:
        errors, error = field_errors(error_message(exc), BUY_LABELS)
        if "currency" in errors and (isinstance(exc, services.NoPayments) or target != NEW_CURRENCY):
            # The engine's refusal is about buying at all; a wallet's form has no currency field.
            errors.setdefault("amount", errors.pop("currency"))
        buying = {"target": target, "currency": currency, "amount": amount, "errors": errors, "error": error}
        return _wallets_page(ctx, buying, status_code=exc.status_code)
    return ctx.redirect(made["checkoutUrl"])


@router.get("/wallets/{currency}")
def wallet_entries(currency: str, ctx: PortalContext = SignedIn) -> Response:
    with ctx.unit_of_work() as db:
        found = services.my_wallet(db, ctx.principal, currency)
    shown = list(reversed(found["entries"]["list"]))  # oldest first
    points = [(datetime.fromisoformat(e["createdAt"]), Decimal(e["balanceAfter"])) for e in shown]
    chart = responsive_balance_chart(
        points, title="Balance after each entry", currency=found["currency"], now=datetime.now(UTC)
    )
    return ctx.render(
        "devportal/wallet_detail.html", title=f"{found['currency']} wallet", wallet=found, chart=chart
    )


# ---------------------------------------------------------------------------------------------
# Alert thresholds (the subscriber's own; crossings go to their applications' webhooks)


@router.get("/alerts")
def alerts(ctx: PortalContext = SignedIn) -> Response:
    return _alerts_page(ctx)


def _alerts_page(
    ctx: PortalContext, adding: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    with ctx.unit_of_work() as db:
        thresholds = services.my_thresholds(db, ctx.principal)
        subs = services.my_subscriptions(db, ctx.runtime, ctx.principal)
    names = {s["subscriptionId"]: f"{s['apiName']} {s['apiVersion']} · {s['applicationName']}" for s in subs}
    return ctx.render(
        "devportal/alerts.html",
        status_code=status_code,
        title="Alerts",
        thresholds=thresholds,
        subscriptions=names,
        adding=adding or {"subject": None, "v": {}, "errors": {}, "error": None},
    )


@router.post("/alerts")
def add_alert(ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    """As POST /api/am/store/v1/alert-thresholds; a refusal shows under its field, what was typed kept."""
    f = FormReader(form)
    subject = f.text("subject") if f.text("subject") in ALERT_FIELDS else "WALLET"
    names = ALERT_FIELDS[subject]
    values = {name: f.text(name) for name in names}
    try:
        if subject == "WALLET":  # the service's words for a missing field assume a REST body
            for name in names:
                if not values[name]:
                    raise services.BadRequest(f"'{name}': is required")
        with ctx.unit_of_work() as db:
            services.add_threshold(
                db, ctx.principal, {"subject": subject, **{k: v or None for k, v in values.items()}}
            )
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        errors, error = field_errors(error_message(exc), ALERT_LABELS)
        if "amount" in errors and subject == "SPEND" and not values["amount"] and values["percent"]:
            errors["percent"] = errors.pop("amount")  # e.g. "the plan charges nothing per call"
        if errors and not error:
            error = "The alert was not added: correct the field marked below."
        adding = {"subject": subject, "v": values, "errors": errors, "error": error}
        return _alerts_page(ctx, adding, status_code=exc.status_code)
    return ctx.redirect("/devportal/alerts", flash="The alert was added.")


@router.post("/alerts/{threshold_id}/delete")
def delete_alert(threshold_id: str, ctx: PortalContext = SignedIn, form: FormData = Form) -> Response:
    with ctx.unit_of_work() as db:
        services.delete_threshold(db, ctx.principal, threshold_id)
    return ctx.redirect("/devportal/alerts", flash="The alert was deleted.")


# ---------------------------------------------------------------------------------------------
# Self sign-up


@router.get("/signup")
def signup_page(ctx: PortalContext = Visitor) -> Response:
    if ctx.user is not None:
        return ctx.redirect("/devportal/apis")
    return ctx.render("devportal/signup.html", title="Sign up", v={}, error=None)


@router.post("/signup")
def signup(ctx: PortalContext = Visitor, form: FormData = Form) -> Response:
    f = FormReader(form)
    values = {k: f.text(k) for k in ("username", "email", "givenName", "familyName")}
    try:
        password = f.text("password")
        if password != f.text("confirm"):
            raise services.BadRequest("The two passwords are not the same.")
        with ctx.unit_of_work() as db:
            user = services.sign_up(db, ctx.runtime, {**values, "password": password})
            ctx.session.sign_in(user)
    except TollwayError as exc:
        return ctx.render(
            "devportal/signup.html",
            status_code=400,
            title="Sign up",
            v=values,
            error=humanize(error_message(exc), SIGNUP_LABELS),
        )
    return ctx.redirect("/devportal/apis", flash="Welcome! Your account is ready.")


add_not_found_page(router)
