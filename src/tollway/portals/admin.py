"""The admin portal: business plans, prepaid wallets and credits, monetization settings, usage publishing."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from tollway.billing.attributes import tenant_keys
from tollway.errors import BadRequest, TollwayError
from tollway.portals import services
from tollway.portals.forms import FormReader, field_errors, humanize, strip_none
from tollway.portals.web import AdminUser, Form, PortalContext, PortalRoute, add_not_found_page, error_message

router = APIRouter(prefix="/admin", route_class=PortalRoute, include_in_schema=False)

TIME_UNITS = [
    ("sec", "Second"),
    ("min", "Minute"),
    ("hour", "Hour"),
    ("day", "Day"),
    ("week", "Week"),
    ("month", "Month"),
    ("year", "Year"),
]
CREDIT_KINDS = {"GRANT": "Grant", "TOP_UP": "Top-up (payment received)", "ADJUSTMENT": "Adjustment"}
CREDIT_LABELS = {
    "owner": "Owner",
    "currency": "Currency",
    "amount": "Amount",
    "kind": "Kind",
    "reason": "Reason",
    "expiresAt": "Expiry date",
}
BLANK_TIER_ROWS = 2
TIER_FIELDS = ("tierUpTo", "tierUnitPrice", "tierFlatAmount")
PLAN_LABELS = {
    "policyName": "Name",
    "displayName": "Display name",
    "description": "Description",
    "defaultLimit.requestCount.requestCount": "Request count",
    "defaultLimit.requestCount.timeUnit": "Time unit",
    "defaultLimit.bandwidth.dataAmount": "Data bandwidth",
    "defaultLimit.bandwidth.dataUnit": "Data unit",
    "rateLimitCount": "Burst control",
    "rateLimitTimeUnit": "Burst control per",
    "unitTime": "Unit time",
    "billingPlan": "Billing plan",
    "billingMode": "Billing mode",
    "defaultSpendCap": "Default spend cap",
    "monetization.monetizationPlan": "Monetization plan",
    "fixedPrice": "Fixed price",
    "pricePerRequest": "Price per request",
    "currencyType": "Currency",
    "billingCycle": "Billing cycle",
    "includedRequests": "Included requests",
    "monetization.tierMode": "Tier mode",
    "tierMode": "Tier mode",
    "tiers": "Tiers",
    "upTo": "Tier 'up to'",
    "unitPrice": "Tier unit price",
    "flatAmount": "Tier flat amount",
    "monetization": "Monetization",
}


@router.get("/")
@router.get("")
def home(ctx: PortalContext = AdminUser) -> Response:
    return RedirectResponse("/admin/plans", status_code=303)


# ---------------------------------------------------------------------------------------------
# Business plans


@router.get("/plans")
def plans(ctx: PortalContext = AdminUser) -> Response:
    with ctx.unit_of_work() as db:
        listed = services.list_plans(db, ctx.principal)
    return ctx.render("admin/plans.html", title="Business plans", plans=listed)


@router.get("/plans/new")
def new_plan(ctx: PortalContext = AdminUser) -> Response:
    return _plan_form(ctx, values=_with_blank_tiers({}), editing=False)


@router.post("/plans/new")
def create_plan(ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    try:
        body = plan_body(FormReader(form))
        with ctx.unit_of_work() as db:
            created = services.create_plan(db, ctx.runtime, ctx.principal, body)
    except TollwayError as exc:
        return _plan_form(
            ctx, _form_values(form), editing=False, error=humanize(error_message(exc), PLAN_LABELS)
        )
    return ctx.redirect("/admin/plans", flash=f"Business plan {created['policyName']} was created.")


@router.get("/plans/{policy_id}")
def edit_plan(policy_id: str, ctx: PortalContext = AdminUser) -> Response:
    with ctx.unit_of_work() as db:
        plan = services.get_plan(db, ctx.principal, policy_id)
    return _plan_form(ctx, _with_blank_tiers(plan_values(plan)), editing=True, policy_id=policy_id)


@router.post("/plans/{policy_id}")
def update_plan(policy_id: str, ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    try:
        body = plan_body(FormReader(form))
        with ctx.unit_of_work() as db:
            updated = services.update_plan(db, ctx.runtime, ctx.principal, policy_id, body)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        values = _form_values(form)
        error = humanize(error_message(exc), PLAN_LABELS)
        return _plan_form(ctx, values, editing=True, policy_id=policy_id, error=error)
    return ctx.redirect("/admin/plans", flash=f"Business plan {updated['policyName']} was updated.")


@router.post("/plans/{policy_id}/delete")
def delete_plan(policy_id: str, ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    try:
        with ctx.unit_of_work() as db:
            plan = services.get_plan(db, ctx.principal, policy_id)
            services.delete_plan(db, ctx.runtime, ctx.principal, policy_id)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return ctx.redirect("/admin/plans", flash=f"The business plan was not deleted: {error_message(exc)}")
    return ctx.redirect("/admin/plans", flash=f"Business plan {plan['policyName']} was deleted.")


def _plan_form(
    ctx: PortalContext,
    values: dict[str, Any],
    *,
    editing: bool,
    policy_id: str = "",
    error: str | None = None,
) -> Response:
    title = f"Edit business plan {values.get('policyName', '')}" if editing else "Add business plan"
    action = f"/admin/plans/{policy_id}" if editing else "/admin/plans/new"
    return ctx.render(
        "admin/plan_form.html",
        status_code=400 if error else 200,
        title=title,
        v=values,
        editing=editing,
        action=action,
        time_units=TIME_UNITS,
        error=error,
    )


def plan_body(f: FormReader) -> dict[str, Any]:
    """The admin REST API's subscription-policy body from the plan form."""
    time_unit, unit_time = f.text("timeUnit") or "min", f.whole("unitTime", "Unit time", 1)
    if f.text("limitType") == "BandwidthLimit":
        limit: dict[str, Any] = {
            "type": "BandwidthLimit",
            "bandwidth": {
                "timeUnit": time_unit,
                "unitTime": unit_time,
                "dataAmount": f.whole("dataAmount", "Data bandwidth", 0),
                "dataUnit": f.text("dataUnit") or "KB",
            },
        }
    else:
        limit = {
            "type": "RequestCountLimit",
            "requestCount": {
                "timeUnit": time_unit,
                "unitTime": unit_time,
                "requestCount": f.whole("requestCount", "Request count", 0),
            },
        }
    body: dict[str, Any] = {
        "policyName": f.required("policyName", "Name"),
        "displayName": f.optional("displayName"),
        "description": f.optional("description"),
        "defaultLimit": limit,
        "rateLimitCount": f.whole("rateLimitCount", "Burst control", 0),
        "rateLimitTimeUnit": f.optional("rateLimitTimeUnit"),
        "stopOnQuotaReach": f.checked("stopOnQuotaReach"),
        "billingPlan": f.text("billingPlan") or "FREE",
        "billingMode": f.text("billingMode") or "POSTPAID",
        # Refused by the plan service unless postpaid with a price per call (named in the error).
        "defaultSpendCap": f.optional("defaultSpendCap"),
    }
    if body["billingPlan"] == "COMMERCIAL":
        plan = f.text("monetizationPlan") or "FixedRate"
        properties = {
            "currencyType": f.optional("currencyType"),
            "billingCycle": f.optional("billingCycle"),
            "includedRequests": f.optional("includedRequests"),
        }
        if plan == "FixedRate":
            properties["fixedPrice"] = f.optional("fixedPrice")
        else:
            properties["pricePerRequest"] = f.optional("pricePerRequest")
        monetization: dict[str, Any] = {"monetizationPlan": plan, "properties": properties}
        tiers = _tiers(f)
        if plan == "DynamicRate" and tiers:
            monetization["tiers"] = tiers
            monetization["tierMode"] = f.text("tierMode") or "graduated"
        body["monetization"] = monetization
    cleaned: dict[str, Any] = strip_none(body)
    return cleaned


def _tier_rows(form: FormData) -> list[tuple[str, str, str]]:
    """The tier table's rows as typed (up to, unit price, flat amount); a missing cell is empty."""
    columns = [[str(v).strip() for v in form.getlist(name)] for name in TIER_FIELDS]
    length = max(len(column) for column in columns)
    ups, prices, flats = (column + [""] * (length - len(column)) for column in columns)
    return list(zip(ups, prices, flats, strict=True))


def _tiers(f: FormReader) -> list[dict[str, Any]]:
    tiers = []
    for number, (up_text, price_text, flat_text) in enumerate(_tier_rows(f.form), start=1):
        if not up_text and not price_text and not flat_text:
            continue
        if not price_text:
            raise BadRequest(f"Tier {number}: the unit price is required.")
        try:
            up_to = int(up_text) if up_text else None
        except ValueError:
            raise BadRequest(f"Tier {number}: 'up to' must be a whole number.") from None
        tier: dict[str, Any] = {"upTo": up_to, "unitPrice": price_text}
        if flat_text:
            tier["flatAmount"] = flat_text
        tiers.append(tier)
    return tiers


def plan_values(plan: dict[str, Any]) -> dict[str, Any]:
    """A REST policy as the flat values of the plan form."""
    limit = plan.get("defaultLimit") or {}
    count = limit.get("requestCount") or {}
    bandwidth = limit.get("bandwidth") or {}
    quota = count or bandwidth
    monetization = plan.get("monetization") or {}
    props = monetization.get("properties") or {}
    return {
        "policyName": plan.get("policyName", ""),
        "displayName": plan.get("displayName") or "",
        "description": plan.get("description") or "",
        "limitType": limit.get("type", "RequestCountLimit"),
        "requestCount": count.get("requestCount", ""),
        "dataAmount": bandwidth.get("dataAmount", ""),
        "dataUnit": bandwidth.get("dataUnit", "KB"),
        "timeUnit": quota.get("timeUnit", "min"),
        "unitTime": quota.get("unitTime", 1),
        "rateLimitCount": plan.get("rateLimitCount", 0),
        "rateLimitTimeUnit": plan.get("rateLimitTimeUnit") or "",
        "stopOnQuotaReach": "on" if plan.get("stopOnQuotaReach", True) else "",
        "billingPlan": plan.get("billingPlan", "FREE"),
        "billingMode": plan.get("billingMode", "POSTPAID"),
        "defaultSpendCap": plan.get("defaultSpendCap") or "",
        "monetizationPlan": monetization.get("monetizationPlan") or "FixedRate",
        "fixedPrice": props.get("fixedPrice") or "",
        "pricePerRequest": props.get("pricePerRequest") or "",
        "currencyType": props.get("currencyType") or "USD",
        "billingCycle": props.get("billingCycle") or "month",
        "includedRequests": props.get("includedRequests") or "0",
        "tierMode": monetization.get("tierMode") or "",
        "tiers": [
            (
                "" if t.get("upTo") is None else t["upTo"],
                t.get("unitPrice", ""),
                "" if t.get("flatAmount") in (None, "0") else t["flatAmount"],
            )
            for t in monetization.get("tiers") or []
        ],
    }


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    values["stopOnQuotaReach"] = "on" if "stopOnQuotaReach" in form else ""
    values["tiers"] = [row for row in _tier_rows(form) if any(row)]
    return _with_blank_tiers(values)


def _with_blank_tiers(values: dict[str, Any]) -> dict[str, Any]:
    values["tiers"] = list(values.get("tiers") or []) + [("", "", "")] * BLANK_TIER_ROWS
    return values


# ---------------------------------------------------------------------------------------------
# Prepaid wallets: the tenant's wallets and credits


@router.get("/wallets")
def wallets(ctx: PortalContext = AdminUser) -> Response:
    with ctx.unit_of_work() as db:
        listed = services.tenant_wallets(db, ctx.principal)
    return ctx.render("admin/wallets.html", title="Wallets", wallets=listed)


@router.get("/wallets/credit")
def credit_form(ctx: PortalContext = AdminUser) -> Response:
    query = ctx.request.query_params
    values = {"owner": query.get("owner", ""), "currency": query.get("currency", "")}
    return _credit_form(ctx, values)


@router.post("/wallets/credit")
def credit_wallet(ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    f = FormReader(form)
    values = {name: f.text(name) for name in (*CREDIT_LABELS, "reference")}
    try:
        fields = {name: value or None for name, value in values.items()}
        fields["expiresAt"] = services.expiry_of(values["expiresAt"])
        with ctx.unit_of_work() as db:
            made = services.credit(db, ctx.principal, fields)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return _credit_form(ctx, values, refusal=error_message(exc))
    entry, wallet = made["entry"], made["wallet"]
    currency = wallet["currency"]
    if made["created"]:
        kind = entry["kind"].replace("_", "-").lower()
        note = f"{entry['amount']} {currency} ({kind}) was credited to {wallet['owner']}."
    else:
        note = "This credit was already recorded (the form was sent twice); nothing changed."
    flash = f"{note} The new balance is {wallet['balance']} {currency}."
    return ctx.redirect(f"/admin/wallets/{wallet['walletId']}", flash=flash)


@router.get("/wallets/{wallet_id}")
def wallet(wallet_id: str, ctx: PortalContext = AdminUser) -> Response:
    with ctx.unit_of_work() as db:
        found = services.tenant_wallet(db, ctx.principal, wallet_id)
    title = f"{found['owner']}'s {found['currency']} wallet"
    return ctx.render("admin/wallet.html", title=title, wallet=found)


def _credit_form(ctx: PortalContext, values: dict[str, str], refusal: str | None = None) -> Response:
    """The credit form; a refusal is shown under the fields it names (the service's 'field': words)."""
    values.setdefault("reference", "")
    if not values["reference"]:
        # The same form sent twice (a double click, a reload) credits once: see wallets.service.credit.
        values["reference"] = f"portal:{uuid.uuid4().hex}"
    errors, error = field_errors(refusal, CREDIT_LABELS) if refusal else ({}, None)
    if errors and not error:
        marked = "field" if len(errors) == 1 else "fields"
        error = f"The wallet was not credited: correct the {marked} marked below."
    return ctx.render(
        "admin/credit_form.html",
        status_code=400 if refusal else 200,
        title="Credit a wallet",
        v=values,
        kinds=list(CREDIT_KINDS.items()),
        errors=errors,
        error=error,
    )


# ---------------------------------------------------------------------------------------------
# Tenant monetization settings and usage publishing


# ---------------------------------------------------------------------------------------------
# Invoices and their payment state

INVOICE_FILTERS = [
    ("", "All"),
    ("open", "Open"),
    ("paid", "Paid"),
    ("uncollectible", "Uncollectible"),
    ("void", "Void"),
]


@router.get("/invoices")
def invoices(ctx: PortalContext = AdminUser) -> Response:
    status = ctx.request.query_params.get("status") or ""
    if status not in dict(INVOICE_FILTERS):
        raise BadRequest("'status': choose open, paid, uncollectible or void")
    with ctx.unit_of_work() as db:
        listed = services.tenant_invoices(db, ctx.principal, status or None)
    return ctx.render(
        "admin/invoices.html", title="Invoices", invoices=listed, status=status, filters=INVOICE_FILTERS
    )


@router.get("/invoices/{invoice_id}/pdf")
def invoice_pdf(invoice_id: str, ctx: PortalContext = AdminUser) -> Response:
    with ctx.unit_of_work() as db:
        return services.tenant_invoice_pdf(db, ctx.principal, invoice_id)


@router.get("/invoices/{invoice_id}")
def invoice(invoice_id: str, ctx: PortalContext = AdminUser) -> Response:
    with ctx.unit_of_work() as db:
        found = services.tenant_invoice(db, ctx.principal, invoice_id)
    return _invoice_page(ctx, found)


def _invoice_page(ctx: PortalContext, found: dict[str, Any], error: str | None = None) -> Response:
    grace = ctx.runtime.settings.monetization.payment_grace_days
    title = f"Invoice {found['number'] or ''}"
    return ctx.render("admin/invoice.html", title=title, invoice=found, grace=grace, error=error)


@router.post("/invoices/{invoice_id}/payment")
def record_payment(invoice_id: str, ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    f = FormReader(form)
    try:
        with ctx.unit_of_work() as db:
            done = services.record_payment(
                db, ctx.runtime, ctx.principal, invoice_id, f.text("status"), f.optional("note")
            )
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        with ctx.unit_of_work() as db:
            found = services.tenant_invoice(db, ctx.principal, invoice_id)
        return _invoice_page(ctx, found, error=error_message(exc))
    flash = f"Invoice {done['number']} is now {done['status']}."
    return ctx.redirect(f"/admin/invoices/{invoice_id}", flash=flash)


# ---------------------------------------------------------------------------------------------
# Users (SCIM's users of the tenant)

USER_LABELS = {"userName": "Username", "password": "Password", "emails": "E-mail", "roles": "Roles"}
ROLE_NAMES = {
    "admin": "Admin",
    "Internal/publisher": "Publisher",
    "Internal/creator": "Creator",
    "Internal/subscriber": "Subscriber",
}


@router.get("/users")
def users(ctx: PortalContext = AdminUser) -> Response:
    return _users_page(ctx)


def _users_page(
    ctx: PortalContext, values: dict[str, Any] | None = None, error: str | None = None
) -> Response:
    with ctx.unit_of_work() as db:
        listed = services.tenant_users(db, ctx.principal)
    return ctx.render(
        "admin/users.html",
        status_code=400 if error else 200,
        title="Users",
        users=listed,
        v=values or {"roles": ["Internal/subscriber"]},
        error=error,
        role_names=ROLE_NAMES,
        me=ctx.principal.user_id,
    )


@router.post("/users")
def create_user(ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    f = FormReader(form)
    username, email, roles = f.text("username"), f.text("email"), list(f.all("roles"))
    values: dict[str, Any] = {"username": username, "email": email, "roles": roles}
    try:
        with ctx.unit_of_work() as db:
            made = services.create_user(db, ctx.principal, username, f.text("password"), email or None, roles)
    except TollwayError as exc:
        return _users_page(ctx, values, error=humanize(error_message(exc), USER_LABELS))
    return ctx.redirect("/admin/users", flash=f"User {made['username']} was created.")


@router.post("/users/{user_id}/roles")
def set_roles(user_id: str, ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    try:
        with ctx.unit_of_work() as db:
            changed = services.set_user_roles(db, ctx.principal, user_id, list(FormReader(form).all("roles")))
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return ctx.redirect(
            "/admin/users", flash=f"Nothing changed: {humanize(error_message(exc), USER_LABELS)}"
        )
    return ctx.redirect("/admin/users", flash=f"The roles of {changed['username']} were saved.")


@router.post("/users/{user_id}/active")
def set_active(user_id: str, ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    active = FormReader(form).text("active") == "true"
    try:
        with ctx.unit_of_work() as db:
            changed = services.set_user_active(db, ctx.principal, user_id, active)
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return ctx.redirect("/admin/users", flash=f"Nothing changed: {error_message(exc)}")
    verb = "unlocked" if active else "locked: their tokens no longer work"
    return ctx.redirect("/admin/users", flash=f"User {changed['username']} was {verb}.")


# ---------------------------------------------------------------------------------------------
# Tenants (the default tenant's admins)

TENANT_LABELS = {"domain": "Domain", "adminUsername": "Admin username", "adminPassword": "Admin password"}


@router.get("/tenants")
def tenants(ctx: PortalContext = AdminUser) -> Response:
    return _tenants_page(ctx)


def _tenants_page(
    ctx: PortalContext, values: dict[str, str] | None = None, error: str | None = None
) -> Response:
    with ctx.unit_of_work() as db:
        listed = services.tenants(db, ctx.principal)
    return ctx.render(
        "admin/tenants.html",
        status_code=400 if error else 200,
        title="Tenants",
        tenants=listed,
        v=values or {},
        error=error,
    )


@router.post("/tenants")
def create_tenant(ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    f = FormReader(form)
    values = {"domain": f.text("domain"), "adminUsername": f.text("adminUsername")}
    try:
        with ctx.unit_of_work() as db:
            made = services.create_tenant(
                db, ctx.principal, values["domain"], values["adminUsername"], f.text("adminPassword")
            )
    except TollwayError as exc:
        if exc.status_code == 403:
            raise
        return _tenants_page(ctx, values, error=humanize(error_message(exc), TENANT_LABELS))
    note = f"Tenant {made['domain']} was created; {made['admin_username']}@{made['domain']} can sign in."
    return ctx.redirect("/admin/tenants", flash=note)


@router.post("/tenants/{domain}/deactivate")
def deactivate_tenant(domain: str, ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    try:
        with ctx.unit_of_work() as db:
            services.deactivate_tenant(db, ctx.principal, domain)
    except TollwayError as exc:
        if exc.status_code in (403, 404):
            raise
        return ctx.redirect("/admin/tenants", flash=f"Nothing changed: {error_message(exc)}")
    flash = (
        f"Tenant {domain} was deactivated: its users cannot sign in and the gateway stops serving its APIs."
    )
    return ctx.redirect("/admin/tenants", flash=flash)


# ---------------------------------------------------------------------------------------------
# Tasks: approval workflows

TASK_KINDS = {
    "AM_APPLICATION_CREATION": "New application",
    "AM_SUBSCRIPTION_CREATION": "New subscription",
    "AM_SUBSCRIPTION_UPDATE": "Plan change",
    "AM_SUBSCRIPTION_DELETION": "Unsubscription",
}
DECIDED_SHOWN = 20


@router.get("/tasks")
def tasks(ctx: PortalContext = AdminUser) -> Response:
    with ctx.unit_of_work() as db:
        pending = services.tasks(db, ctx.principal)
        decided = [t for t in services.tasks(db, ctx.principal, "ALL") if t["workflowStatus"] != "CREATED"]
    return ctx.render(
        "admin/tasks.html", title="Tasks", pending=pending, decided=decided[:DECIDED_SHOWN], kinds=TASK_KINDS
    )


@router.post("/tasks/{reference_id}")
def decide_task(reference_id: str, ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    f = FormReader(form)
    decision = f.text("decision")
    if decision not in ("APPROVED", "REJECTED"):
        raise BadRequest("choose Approve or Reject")
    try:
        with ctx.unit_of_work() as db:
            task = services.decide_task(
                db,
                ctx.runtime,
                ctx.principal,
                reference_id,
                decision == "APPROVED",
                f.optional("description"),
            )
    except TollwayError as exc:
        if exc.status_code == 404:
            raise
        return ctx.redirect("/admin/tasks", flash=f"Nothing was decided: {error_message(exc)}")
    what = TASK_KINDS.get(task["workflowType"], task["workflowType"]).lower()
    verb = "approved" if decision == "APPROVED" else "rejected"
    return ctx.redirect("/admin/tasks", flash=f"The {what} request of {task['requestedBy']} was {verb}.")


@router.get("/monetization")
def monetization(ctx: PortalContext = AdminUser) -> Response:
    return _monetization_page(ctx)


def _monetization_page(ctx: PortalContext, error: str | None = None) -> Response:
    with ctx.unit_of_work() as db:
        keys_set = services.tenant_keys_set(db, ctx.runtime, ctx.principal)
        job = services.publish_status(db, ctx.runtime, ctx.principal)
        history = services.publish_history(db, ctx.runtime, ctx.principal)
    return ctx.render(
        "admin/monetization.html",
        history=history,
        status_code=400 if error else 200,
        title="Monetization",
        engine=ctx.runtime.billing.name,
        keys=tenant_keys(ctx.runtime.billing),
        keys_set=keys_set,
        job=job,
        publish_error=None,
        error=error,
    )


@router.post("/monetization/settings")
def save_settings(ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    """Each of the engine's MonetizationInfo keys: a new value replaces it, "remove" deletes it."""
    f = FormReader(form)
    changes: dict[str, str | None] = {}
    for key in tenant_keys(ctx.runtime.billing):
        if f.checked(f"clear_{key.name}"):
            changes[key.name] = None
        elif f.text(f"key_{key.name}"):
            changes[key.name] = f.text(f"key_{key.name}")
    if not changes:
        return ctx.redirect(
            "/admin/monetization", flash="Nothing to change: the keys were left as they were."
        )
    try:
        with ctx.unit_of_work() as db:
            services.set_tenant_keys(db, ctx.runtime, ctx.principal, changes)
    except TollwayError as exc:
        return _monetization_page(ctx, error=error_message(exc))
    return ctx.redirect("/admin/monetization", flash="The billing engine keys were saved.")


@router.post("/monetization/publish-usage")
def publish_usage(ctx: PortalContext = AdminUser, form: FormData = Form) -> Response:
    problem = None
    try:
        services.start_usage_publishing(ctx.runtime, ctx.principal)
    except TollwayError as exc:
        problem = error_message(exc)
    if not ctx.request.headers.get("hx-request"):
        return ctx.redirect("/admin/monetization", flash=problem or "Usage publishing has started.")
    return _status_fragment(ctx, problem)


@router.get("/monetization/publish-usage/status")
def publish_status(ctx: PortalContext = AdminUser) -> Response:
    return _status_fragment(ctx, None)


def _status_fragment(ctx: PortalContext, problem: str | None) -> Response:
    with ctx.unit_of_work() as db:
        job = services.publish_status(db, ctx.runtime, ctx.principal)
    response = ctx.render("admin/publish_status.html", job=job, publish_error=problem)
    response.headers["Cache-Control"] = "no-store"
    return response


add_not_found_page(router)
