"""Subscriptions, their billing periods, and invoices (stored ones and ``create_preview``).

Time is the fake's clock (``StripeFake.now()``). Every request first lets the acting account catch
up with it (``tick``): subscriptions whose period ended are renewed with a ``subscription_cycle``
invoice (metered usage of the ended period, licensed prices for the new one), and draft invoices are
finalized one hour after they were created, their metered lines recomputed then — Stripe's one-hour
grace period for late meter events. Payments always succeed for ``charge_automatically``.
"""

from __future__ import annotations

import calendar
import copy
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from .catalog import create_price, get_price
from .customers import get_customer
from .errors import StripeError, invalid, missing_parameter, no_such
from .fixtures import template
from .ids import new_id, random_suffix
from .metering import usage
from .money import decimal_string, format_money, round_amount
from .rendering import apply_metadata, in_range, list_object
from .state import RESOLVERS, Ctx, Obj

TIMES = (
    "\u00d7"  # the multiplication sign of Stripe's line descriptions: "2 <TIMES> Gold (at $20.00 / month)"
)
FINALIZE_AFTER = 3600  # subscription invoices stay draft for an hour, then finalize automatically
LIVE_STATUSES = ("active", "past_due", "trialing", "unpaid", "incomplete")

# Parameters Stripe accepts that change what is billed but that the fake does not model: refused
# loudly rather than silently ignored, so a test never passes on a behaviour the fake lacks.
_UNMODELLED_SUBSCRIPTION = (
    "add_invoice_items",
    "application_fee_percent",
    "automatic_tax",
    "backdate_start_date",
    "billing_cycle_anchor_config",
    "billing_thresholds",
    "coupon",
    "default_tax_rates",
    "discounts",
    "pending_invoice_item_interval",
    "promotion_code",
    "transfer_data",
    "trial_end",
    "trial_from_plan",
    "trial_period_days",
    "pause_collection",
)


def unmodelled(param: str) -> StripeError:
    return StripeError(
        400,
        f"The Stripe fake does not model `{param}`; the request is refused rather than half-applied.",
        param=param,
        code="fake_unsupported_parameter",
    )


# --------------------------------------------------------------------------- periods


def boundary(anchor: int, interval: str, count: int, n: int) -> int:
    """The n-th period boundary after ``anchor``, months counted from the anchor's day (clamped)."""
    if interval == "day":
        return anchor + n * count * 86400
    if interval == "week":
        return anchor + n * count * 7 * 86400
    months = n * count * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    return int(start.replace(year=year, month=month0 + 1, day=day).timestamp())


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%-d %b %Y")


# --------------------------------------------------------------------------- pricing


def components(price: Obj, quantity: Decimal) -> list[tuple[Decimal, Decimal, Decimal, int | None]]:
    """``(units, unit amount, flat amount, tier number)`` parts of what ``quantity`` costs."""
    if price["billing_scheme"] != "tiered":
        units = quantity
        transform = price.get("transform_quantity")
        if transform:
            rounding = ROUND_CEILING if transform["round"] == "up" else ROUND_FLOOR
            units = (quantity / Decimal(transform["divide_by"])).to_integral_value(rounding=rounding)
        return [(units, Decimal(price["unit_amount_decimal"] or 0), Decimal(0), None)]
    tiers = price["tiers"] or []

    def amounts(tier: Obj) -> tuple[Decimal, Decimal]:
        return Decimal(tier["unit_amount_decimal"] or 0), Decimal(tier["flat_amount_decimal"] or 0)

    if price["tiers_mode"] == "volume":
        for number, tier in enumerate(tiers, start=1):
            if tier["up_to"] is None or quantity <= tier["up_to"]:
                unit, flat = amounts(tier)
                return [(quantity, unit, flat, number)]
    parts: list[tuple[Decimal, Decimal, Decimal, int | None]] = []
    lower = Decimal(0)
    for number, tier in enumerate(tiers, start=1):
        upper = None if tier["up_to"] is None else Decimal(tier["up_to"])
        units = (quantity if upper is None else min(quantity, upper)) - lower
        unit, flat = amounts(tier)
        if units > 0 or (number == 1 and quantity == 0):
            parts.append((max(units, Decimal(0)), unit, flat, number))
        if upper is None or quantity <= upper:
            break
        lower = upper
    return parts


def amount_for(price: Obj, quantity: Decimal) -> Decimal:
    return sum((units * unit + flat for units, unit, flat, _ in components(price, quantity)), Decimal(0))


def _interval_text(price: Obj) -> str:
    recurring = price["recurring"] or {}
    count = recurring.get("interval_count", 1)
    interval = recurring.get("interval", "month")
    return interval if count == 1 else f"every {count} {interval}s"


def _quantity_text(value: Decimal) -> str:
    return decimal_string(value)


def usage_lines(
    ctx: Ctx, sub: Obj, item: Obj, price: Obj, quantity: Decimal, period: tuple[int, int]
) -> list[Obj]:
    """Line specs for ``quantity`` of ``price`` (one per tier reached for graduated prices)."""
    product = ctx.account.products.get(price["product"]) or {"name": price["product"]}
    lines = []
    for units, unit, flat, tier in components(price, quantity):
        at = format_money(unit, price["currency"])
        if flat:
            at += f" + {format_money(flat, price['currency'])}"
        where = (
            f"Tier {tier} at {at}" if tier is not None and price["tiers_mode"] == "graduated" else f"at {at}"
        )
        lines.append(
            {
                "amount": units * unit + flat,
                "quantity": units,
                "unit_amount_decimal": decimal_string(unit),
                "description": (
                    f"{_quantity_text(units)} {TIMES} {product['name']} ({where} / {_interval_text(price)})"
                ),
                "price": price["id"],
                "product": price["product"],
                "currency": price["currency"],
                "subscription": sub["id"],
                "subscription_item": item["id"],
                "period": list(period),
                "proration": False,
            }
        )
    return lines


def proration_line(
    ctx: Ctx,
    sub: Obj,
    item: Obj,
    price: Obj,
    quantity: Decimal,
    start: int,
    end: int,
    *,
    credit: bool,
    at: int,
) -> Obj:
    """Credit of unused time (``credit``) or charge of remaining time of a licensed configuration."""
    fraction = Decimal(end - at) / Decimal(end - start) if end > start else Decimal(0)
    amount = amount_for(price, quantity) * fraction
    product = ctx.account.products.get(price["product"]) or {"name": price["product"]}
    what = f"{_quantity_text(quantity)} {TIMES} {product['name']}"
    return {
        "amount": -amount if credit else amount,
        "quantity": quantity,
        "unit_amount_decimal": price["unit_amount_decimal"],
        "description": f"{'Unused' if credit else 'Remaining'} time on {what} after {_date(at)}",
        "price": price["id"],
        "product": price["product"],
        "currency": price["currency"],
        "subscription": sub["id"],
        "subscription_item": item["id"],
        "period": [at, end],
        "proration": True,
    }


def _metered(price: Obj) -> bool:
    return (price["recurring"] or {}).get("usage_type") == "metered"


# --------------------------------------------------------------------------- invoices


def _recipe_lines(ctx: Ctx, sub: Obj, recipe: list[Obj]) -> list[Obj]:
    """Turn an invoice recipe into line specs, reading meter usage as it stands now."""
    items = {item["id"]: item for item in sub["items"]} | {
        item["id"]: item for item in sub.get("removed_items", [])
    }
    lines: list[Obj] = []
    for entry in recipe:
        if entry["kind"] == "fixed":
            lines.append(entry["line"])
            continue
        item = items[entry["item"]]
        price = ctx.account.prices[entry["price"]]
        period = (entry["period"][0], entry["period"][1])
        if entry["kind"] == "metered":
            meter = price["recurring"]["meter"]
            quantity = usage(ctx, meter, sub["customer"], entry["window"][0], entry["window"][1])
            lines.extend(usage_lines(ctx, sub, item, price, quantity, period))
        else:
            lines.extend(usage_lines(ctx, sub, item, price, Decimal(entry["quantity"]), period))
    return lines


def _render_line(ctx: Ctx, spec: Obj, invoice_id: str, *, preview: bool) -> Obj:
    line = template("line_item")
    amount = round_amount(spec["amount"])
    quantity = spec["quantity"]
    line.update(
        id=new_id("il_tmp" if preview else "il"),
        amount=amount,
        currency=spec["currency"],
        description=spec["description"],
        discount_amounts=[],
        discountable=True,
        discounts=[],
        invoice=invoice_id,
        livemode=ctx.account.livemode,
        metadata={},
        parent={
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": spec["proration"],
                "proration_details": {"credited_items": None},
                "subscription": spec["subscription"],
                "subscription_item": spec["subscription_item"],
            },
        },
        period={"start": spec["period"][0], "end": spec["period"][1]},
        pretax_credit_amounts=[],
        pricing={
            "type": "price_details",
            "price_details": {"price": spec["price"], "product": spec["product"]},
            "unit_amount_decimal": spec["unit_amount_decimal"],
        },
        quantity=int(quantity) if quantity == quantity.to_integral_value() else None,
        quantity_decimal=decimal_string(quantity),
        subscription=spec["subscription"],
        subtotal=amount,
        taxes=[],
    )
    return line


def _set_lines(ctx: Ctx, invoice: Obj, specs: list[Obj], *, preview: bool) -> None:
    lines = [_render_line(ctx, spec, invoice["id"], preview=preview) for spec in specs]
    invoice["lines"] = {
        "object": "list",
        "data": lines,
        "has_more": False,
        "total_count": len(lines),
        "url": f"/v1/invoices/{invoice['id']}/lines",
    }
    subtotal = sum(line["amount"] for line in lines)
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=max(subtotal, 0),
        amount_paid=0,
        amount_remaining=max(subtotal, 0),
    )


def _apply_balance(invoice: Obj, balance: int) -> int:
    """Apply the customer's balance (negative = credit); return the balance left afterwards."""
    applied: int = invoice["total"] + balance
    invoice["starting_balance"] = balance
    invoice["amount_due"] = max(applied, 0)
    invoice["amount_remaining"] = invoice["amount_due"]
    invoice["ending_balance"] = min(applied, 0)
    return min(applied, 0)


def _new_invoice(
    ctx: Ctx,
    sub: Obj,
    *,
    billing_reason: str,
    period: tuple[int, int],
    created: int,
    preview: bool,
) -> Obj:
    customer = ctx.account.customers[sub["customer"]]
    account = ctx.account.object
    invoice = template("invoice")
    invoice.update(
        id=(f"upcoming_in_{random_suffix(24)}" if preview else new_id("in")),
        account_country=account.get("country"),
        account_name=(account.get("business_profile") or {}).get("name"),
        account_tax_ids=None,
        amount_overpaid=0,
        amount_shipping=0,
        application=None,
        attempt_count=0,
        attempted=False,
        auto_advance=not preview,
        automatic_tax={
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        automatically_finalizes_at=None if preview else created + FINALIZE_AFTER,
        billing_reason=billing_reason,
        collection_method=sub["collection_method"],
        created=created,
        currency=sub["currency"],
        custom_fields=None,
        customer=sub["customer"],
        customer_account=None,
        customer_address=copy.deepcopy(customer["address"]),
        customer_email=customer["email"],
        customer_name=customer["name"],
        customer_phone=customer["phone"],
        customer_shipping=copy.deepcopy(customer["shipping"]),
        customer_tax_exempt=customer["tax_exempt"],
        customer_tax_ids=[],
        default_payment_method=None,
        default_source=None,
        default_tax_rates=[],
        description=None,
        discounts=[],
        due_date=None,
        effective_at=None,
        ending_balance=None,
        footer=None,
        from_invoice=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        issuer={"type": "self"},
        last_finalization_error=None,
        latest_revision=None,
        livemode=ctx.account.livemode,
        metadata={},
        next_payment_attempt=None,
        number=None,
        on_behalf_of=None,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
        },
        payment_settings={
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        period_start=period[0],
        period_end=period[1],
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        receipt_number=None,
        rendering=None,
        shipping_cost=None,
        shipping_details=None,
        starting_balance=0,
        statement_descriptor=None,
        status="draft",
        status_transitions={
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        subscription=sub["id"],
        test_clock=None,
        total_discount_amounts=[],
        total_pretax_credit_amounts=[],
        total_taxes=[],
        webhooks_delivered_at=None,
    )
    return invoice


def create_invoice(
    ctx: Ctx,
    sub: Obj,
    recipe: list[Obj],
    *,
    billing_reason: str,
    period: tuple[int, int],
    created: int,
    finalize: bool,
) -> Obj:
    """Store a subscription invoice; a draft keeps its recipe so late usage still lands on it."""
    invoice = _new_invoice(
        ctx, sub, billing_reason=billing_reason, period=period, created=created, preview=False
    )
    _set_lines(ctx, invoice, _recipe_lines(ctx, sub, recipe), preview=False)
    ctx.account.invoices[invoice["id"]] = invoice
    ctx.account.invoice_sources[invoice["id"]] = {"subscription": sub["id"], "recipe": recipe}
    sub["latest_invoice"] = invoice["id"]
    if finalize:
        finalize_invoice(ctx, invoice, at=created)
    return invoice


def finalize_invoice(ctx: Ctx, invoice: Obj, *, at: int) -> None:
    source = ctx.account.invoice_sources.pop(invoice["id"], None)
    if source is not None:
        sub = ctx.account.subscriptions[source["subscription"]]
        _set_lines(ctx, invoice, _recipe_lines(ctx, sub, source["recipe"]), preview=False)
    customer = ctx.account.customers[invoice["customer"]]
    customer["balance"] = _apply_balance(invoice, customer["balance"])
    sequence = customer["next_invoice_sequence"]
    customer["next_invoice_sequence"] = sequence + 1
    invoice.update(
        number=f"{customer['invoice_prefix']}-{sequence:04d}",
        status="open",
        effective_at=at,
        automatically_finalizes_at=None,
        hosted_invoice_url=f"https://invoice.stripe.com/i/{ctx.account.id}/{invoice['id']}",
        invoice_pdf=f"https://pay.stripe.com/invoice/{ctx.account.id}/{invoice['id']}/pdf",
        webhooks_delivered_at=at,
    )
    invoice["status_transitions"]["finalized_at"] = at
    if invoice["collection_method"] == "send_invoice":
        owner = ctx.account.subscriptions.get(invoice["subscription"])
        days = owner["days_until_due"] if owner is not None else None
        invoice["due_date"] = at + 86400 * (days if days is not None else 30)
    if invoice["amount_due"] == 0 or invoice["collection_method"] == "charge_automatically":
        _mark_paid(invoice, at=at)


def _mark_paid(invoice: Obj, *, at: int) -> None:
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=invoice["amount_due"] > 0,
        attempt_count=1 if invoice["amount_due"] > 0 else 0,
        next_payment_attempt=None,
    )
    invoice["status_transitions"]["paid_at"] = at


# --------------------------------------------------------------------------- subscriptions


def _item_record(ctx: Ctx, price: Obj, quantity: int | None, metadata: Any, start: int, end: int) -> Obj:
    return {
        "id": new_id("si"),
        "price": price["id"],
        "quantity": None if _metered(price) else (1 if quantity is None else quantity),
        "metadata": apply_metadata({}, metadata or {}),
        "created": ctx.now,
        "current_period_start": start,
        "current_period_end": end,
    }


def _price_for_item(ctx: Ctx, spec: Obj, param: str) -> Obj:
    if "price" in spec and "price_data" in spec:
        raise invalid(
            f"You may only specify one of these parameters: {param}[price], {param}[price_data].",
            param=f"{param}[price_data]",
        )
    if "price_data" in spec:
        data = dict(spec["price_data"])
        recurring = data.pop("recurring")
        price = create_price(ctx, {**data, "recurring": recurring}, param_prefix=f"{param}[price_data]")
        ctx.account.prices[price["id"]]["active"] = False  # inline prices are archived at once
        return ctx.account.prices[price["id"]]
    if "price" not in spec:
        raise missing_parameter(f"{param}[price]")
    price = get_price(ctx, spec["price"], param=f"{param}[price]", status=400)
    if not price["active"]:
        raise invalid(
            "The price specified is inactive. This field only accepts active prices.",
            param=f"{param}[price]",
        )
    if price["type"] != "recurring":
        raise invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices with "
            "`type=recurring`.",
            param=f"{param}[price]",
        )
    return price


def _check_quantity(price: Obj, spec: Obj, param: str) -> None:
    if _metered(price) and "quantity" in spec:
        raise invalid(
            "Quantity should not be specified where usage_type is `metered`. "
            f"Remove quantity from `{param}`.",
            param=f"{param}[quantity]",
        )
    if spec.get("quantity", 0) < 0:
        raise invalid("This value must be greater than or equal to 0.", param=f"{param}[quantity]")


def _check_compatible(prices: list[Obj], param: str = "items") -> None:
    first = prices[0]
    for price in prices[1:]:
        if price["currency"] != first["currency"]:
            raise invalid(
                "Currency and interval fields must match across all plans on this subscription. Found "
                "mismatch in currency field.",
                param=param,
            )
        a, b = first["recurring"], price["recurring"]
        if (a["interval"], a["interval_count"]) != (b["interval"], b["interval_count"]):
            raise invalid(
                "Currency and interval fields must match across all plans on this subscription. Found "
                "mismatch in interval field.",
                param=param,
            )
    seen: set[str] = set()
    for price in prices:
        if price["id"] in seen:
            raise invalid(
                f"Cannot add multiple subscription items with the same price: {price['id']}", param=param
            )
        seen.add(price["id"])


def build_subscription(ctx: Ctx, params: dict[str, Any], *, persist: bool) -> tuple[Obj, list[Obj]]:
    """A new subscription record and the recipe of its first invoice (stored when ``persist``)."""
    for key in _UNMODELLED_SUBSCRIPTION:
        if key in params:
            raise unmodelled(key)
    if "customer" not in params:
        raise missing_parameter("customer")
    customer = get_customer(ctx, params["customer"], param="customer", status=400)
    items = params.get("items")
    if not items:
        raise missing_parameter("items")
    prices: list[Obj] = []
    for index, spec in enumerate(items):
        price = _price_for_item(ctx, spec, f"items[{index}]")
        _check_quantity(price, spec, f"items[{index}]")
        prices.append(price)
    _check_compatible(prices)
    currency = prices[0]["currency"]
    if customer["currency"] not in (None, currency) and any(
        s["customer"] == customer["id"] and s["status"] in LIVE_STATUSES
        for s in ctx.account.subscriptions.values()
    ):
        raise invalid(
            "You cannot combine currencies on a single customer. This customer has an active subscription, "
            f"subscription schedule, discount, quote, or invoice item with currency {customer['currency']}.",
            param="currency",
        )
    collection = params.get("collection_method", "charge_automatically")
    if "days_until_due" in params and collection != "send_invoice":
        raise invalid(
            "days_until_due can only be set when collection_method is send_invoice.", param="days_until_due"
        )
    recurring = prices[0]["recurring"]
    interval, count = recurring["interval"], recurring["interval_count"]
    start = ctx.now
    natural_end = boundary(start, interval, count, 1)
    anchor = params.get("billing_cycle_anchor", start)
    if anchor != start:
        if anchor <= start:
            raise invalid("billing_cycle_anchor cannot be in the past.", param="billing_cycle_anchor")
        if anchor > natural_end:
            raise invalid(
                "billing_cycle_anchor cannot be later than next natural billing date "
                f"({natural_end}) for plan",
                param="billing_cycle_anchor",
            )
    end = natural_end if anchor == start else anchor
    sub: Obj = {
        "id": new_id("sub"),
        "customer": customer["id"],
        "status": "active",
        "created": start,
        "start_date": start,
        "metadata": apply_metadata({}, params.get("metadata", {})),
        "description": params.get("description"),
        "collection_method": collection,
        "days_until_due": params.get("days_until_due", 30 if collection == "send_invoice" else None),
        "currency": currency,
        "anchor": anchor,
        "interval": interval,
        "interval_count": count,
        "boundary": 1 if anchor == start else 0,
        "current_period_start": start,
        "current_period_end": end,
        "cancel_at_period_end": bool(params.get("cancel_at_period_end", False)),
        "cancel_at": params.get("cancel_at") or None,
        "canceled_at": ctx.now if params.get("cancel_at_period_end") else None,
        "ended_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "latest_invoice": None,
        "default_payment_method": params.get("default_payment_method"),
        "payment_behavior": params.get("payment_behavior", "allow_incomplete"),
        "items": [],
        "removed_items": [],
        "pending": [],
    }
    recipe: list[Obj] = []
    for spec, price in zip(items, prices, strict=True):
        item = _item_record(ctx, price, spec.get("quantity"), spec.get("metadata"), start, end)
        sub["items"].append(item)
        if _metered(price):
            recipe.append(
                {
                    "kind": "metered",
                    "item": item["id"],
                    "price": price["id"],
                    "window": [start, start],
                    "period": [start, end],
                }
            )
        elif anchor == start:
            recipe.append(
                {
                    "kind": "licensed",
                    "item": item["id"],
                    "price": price["id"],
                    "quantity": item["quantity"],
                    "period": [start, end],
                }
            )
        else:  # a future anchor: the first, shorter period is prorated
            line = proration_line(
                ctx, sub, item, price, Decimal(item["quantity"]), start, natural_end, credit=False, at=start
            )
            line["amount"] = (
                amount_for(price, Decimal(item["quantity"]))
                * Decimal(end - start)
                / Decimal(natural_end - start)
            )
            line["period"] = [start, end]
            recipe.append({"kind": "fixed", "line": line})
    if persist:
        ctx.account.subscriptions[sub["id"]] = sub
        customer["currency"] = currency
    return sub, recipe


def create_subscription(ctx: Ctx, params: dict[str, Any]) -> Obj:
    sub, recipe = build_subscription(ctx, params, persist=True)
    invoice = create_invoice(
        ctx,
        sub,
        recipe,
        billing_reason="subscription_create",
        period=(sub["current_period_start"], sub["current_period_start"]),
        created=ctx.now,
        finalize=False,
    )
    finalize_invoice(ctx, invoice, at=ctx.now)
    return render_subscription(ctx, sub)


def get_subscription(ctx: Ctx, sub_id: str, *, param: str = "id", status: int = 404) -> Obj:
    sub = ctx.account.subscriptions.get(sub_id)
    if sub is None:
        raise no_such("subscription", sub_id, param=param, status=status)
    return sub


def _plan(price: Obj) -> Obj:
    recurring = price["recurring"] or {}
    plan = template("plan")
    plan.update(
        active=price["active"],
        amount=price["unit_amount"],
        amount_decimal=price["unit_amount_decimal"],
        billing_scheme=price["billing_scheme"],
        created=price["created"],
        currency=price["currency"],
        id=price["id"],
        interval=recurring.get("interval"),
        interval_count=recurring.get("interval_count"),
        livemode=price["livemode"],
        metadata=dict(price["metadata"]),
        meter=recurring.get("meter"),
        nickname=price["nickname"],
        product=price["product"],
        tiers_mode=price["tiers_mode"],
        transform_usage=copy.deepcopy(price["transform_quantity"]),
        trial_period_days=recurring.get("trial_period_days"),
        usage_type=recurring.get("usage_type"),
    )
    return plan


def render_item(ctx: Ctx, sub: Obj, item: Obj) -> Obj:
    price = ctx.account.prices[item["price"]]
    rendered = template("subscription_item")
    rendered.update(
        id=item["id"],
        billing_thresholds=None,
        created=item["created"],
        current_period_start=item["current_period_start"],
        current_period_end=item["current_period_end"],
        discounts=[],
        metadata=dict(item["metadata"]),
        plan=_plan(price),
        price=copy.deepcopy(price),
        quantity=item["quantity"],
        subscription=sub["id"],
        tax_rates=[],
    )
    return rendered


def render_subscription(ctx: Ctx, sub: Obj) -> Obj:
    obj = template("subscription")
    obj.update(
        id=sub["id"],
        application=None,
        application_fee_percent=None,
        automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
        billing_cycle_anchor=sub["anchor"],
        billing_cycle_anchor_config=None,
        billing_mode={"type": "classic", "flexible": None},
        billing_schedules=[],
        billing_thresholds=None,
        cancel_at=sub["cancel_at"]
        if sub["cancel_at"]
        else (sub["current_period_end"] if sub["cancel_at_period_end"] else None),
        cancel_at_period_end=sub["cancel_at_period_end"],
        canceled_at=sub["canceled_at"],
        cancellation_details=dict(sub["cancellation_details"]),
        collection_method=sub["collection_method"],
        created=sub["created"],
        currency=sub["currency"],
        customer=sub["customer"],
        customer_account=None,
        days_until_due=sub["days_until_due"],
        default_payment_method=sub["default_payment_method"],
        default_source=None,
        default_tax_rates=[],
        description=sub["description"],
        discounts=[],
        ended_at=sub["ended_at"],
        invoice_settings={"account_tax_ids": None, "issuer": {"type": "self"}},
        items={
            "object": "list",
            "data": [render_item(ctx, sub, item) for item in sub["items"]],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub['id']}",
        },
        latest_invoice=sub["latest_invoice"],
        livemode=ctx.account.livemode,
        managed_payments=None,
        metadata=dict(sub["metadata"]),
        next_pending_invoice_item_invoice=None,
        on_behalf_of=None,
        pause_collection=None,
        payment_settings={
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        pending_invoice_item_interval=None,
        pending_setup_intent=None,
        pending_update=None,
        schedule=None,
        start_date=sub["start_date"],
        status=sub["status"],
        test_clock=None,
        transfer_data=None,
        trial_end=None,
        trial_settings={"end_behavior": {"missing_payment_method": "create_invoice"}},
        trial_start=None,
    )
    return obj


def retrieve_subscription(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    return render_subscription(ctx, get_subscription(ctx, id))


def list_subscriptions(ctx: Ctx, params: dict[str, Any]) -> Obj:
    status = params.get("status")

    def keep(sub: Obj) -> bool:
        if status is None and sub["status"] == "canceled":
            return False  # the default lists every subscription that is not canceled
        if status not in (None, "all") and (
            sub["status"] != status and not (status == "ended" and sub["status"] == "canceled")
        ):
            return False
        return (
            ("customer" not in params or sub["customer"] == params["customer"])
            and ("price" not in params or any(i["price"] == params["price"] for i in sub["items"]))
            and ("collection_method" not in params or sub["collection_method"] == params["collection_method"])
            and in_range(sub["created"], params.get("created"))
            and in_range(sub["current_period_start"], params.get("current_period_start"))
            and in_range(sub["current_period_end"], params.get("current_period_end"))
        )

    rows = [render_subscription(ctx, s) for s in reversed(ctx.account.subscriptions.values()) if keep(s)]
    return list_object(ctx, rows, params, "/v1/subscriptions", "subscription")


def apply_item_changes(ctx: Ctx, sub: Obj, changes: list[Obj], *, at: int) -> list[Obj]:
    """Apply ``items[]`` of an update to ``sub``; return the proration lines the change implies."""
    prorations: list[Obj] = []
    start, end = sub["current_period_start"], sub["current_period_end"]
    by_id = {item["id"]: item for item in sub["items"]}
    for index, change in enumerate(changes):
        param = f"items[{index}]"
        if "id" in change:
            item = by_id.get(change["id"])
            if item is None:
                raise no_such("subscription_item", change["id"], param=f"{param}[id]", status=400)
            old_price = ctx.account.prices[item["price"]]
            old_quantity = item["quantity"]
            if change.get("deleted"):
                sub["items"].remove(item)
                sub["removed_items"].append(item)
                if not _metered(old_price):
                    prorations.append(
                        proration_line(
                            ctx, sub, item, old_price, Decimal(old_quantity), start, end, credit=True, at=at
                        )
                    )
                continue
            price = (
                _price_for_item(ctx, change, param)
                if ("price" in change or "price_data" in change)
                else old_price
            )
            _check_quantity(price, change, param)
            quantity = (
                None
                if _metered(price)
                else change.get("quantity", old_quantity if not _metered(old_price) else 1)
            )
            if "metadata" in change:
                item["metadata"] = apply_metadata(item["metadata"], change["metadata"])
            if (price["id"], quantity) != (old_price["id"], old_quantity):
                if not _metered(old_price):
                    prorations.append(
                        proration_line(
                            ctx, sub, item, old_price, Decimal(old_quantity), start, end, credit=True, at=at
                        )
                    )
                if not _metered(price):
                    prorations.append(
                        proration_line(
                            ctx, sub, item, price, Decimal(quantity or 0), start, end, credit=False, at=at
                        )
                    )
            item["price"], item["quantity"] = price["id"], quantity
        else:
            if change.get("deleted"):
                raise missing_parameter(f"{param}[id]")
            price = _price_for_item(ctx, change, param)
            _check_quantity(price, change, param)
            item = _item_record(ctx, price, change.get("quantity"), change.get("metadata"), at, end)
            sub["items"].append(item)
            by_id[item["id"]] = item
            if not _metered(price):
                prorations.append(
                    proration_line(
                        ctx, sub, item, price, Decimal(item["quantity"]), start, end, credit=False, at=at
                    )
                )
    if not sub["items"]:
        raise invalid("A subscription must have at least one item.", param="items")
    _check_compatible([ctx.account.prices[item["price"]] for item in sub["items"]])
    return prorations


def update_subscription(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    sub = get_subscription(ctx, id)
    if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
    for key in _UNMODELLED_SUBSCRIPTION:
        if key in params:
            raise unmodelled(key)
    if params.get("billing_cycle_anchor", "unchanged") != "unchanged":
        raise unmodelled("billing_cycle_anchor")
    behavior = params.get("proration_behavior", "create_prorations")
    at = params.get("proration_date", ctx.now)
    if "items" in params:
        prorations = apply_item_changes(ctx, sub, params["items"], at=at)
        if behavior == "create_prorations":
            sub["pending"].extend(prorations)
        elif behavior == "always_invoice" and (prorations or sub["pending"]):
            recipe = [{"kind": "fixed", "line": line} for line in sub["pending"] + prorations]
            sub["pending"] = []
            create_invoice(
                ctx,
                sub,
                recipe,
                billing_reason="subscription_update",
                period=(at, at),
                created=ctx.now,
                finalize=True,
            )
    for key, value in params.items():
        if key == "metadata":
            sub["metadata"] = apply_metadata(sub["metadata"], value)
        elif key == "cancel_at_period_end":
            sub["cancel_at_period_end"] = value
            sub["canceled_at"] = ctx.now if value else None
            if value:
                sub["cancel_at"] = None
        elif key == "cancel_at":
            sub["cancel_at"] = None if value == "" else value
            if value != "":
                sub["cancel_at_period_end"] = False
        elif key == "cancellation_details":
            for detail in ("comment", "feedback"):
                if detail in value:
                    sub["cancellation_details"][detail] = None if value[detail] == "" else value[detail]
        elif key in ("description", "default_payment_method"):
            sub[key] = None if value == "" else value
        elif key == "collection_method":
            sub[key] = value
            if value == "charge_automatically":
                sub["days_until_due"] = None
        elif key == "days_until_due":
            sub[key] = value
    return render_subscription(ctx, sub)


def _final_recipe(ctx: Ctx, sub: Obj, until: int, *, prorate_at: int | None) -> list[Obj]:
    recipe: list[Obj] = [{"kind": "fixed", "line": line} for line in sub["pending"]]
    for item in sub["items"]:
        price = ctx.account.prices[item["price"]]
        if _metered(price):
            recipe.append(
                {
                    "kind": "metered",
                    "item": item["id"],
                    "price": price["id"],
                    "window": [item["current_period_start"], until],
                    "period": [item["current_period_start"], until],
                }
            )
        elif prorate_at is not None and prorate_at < item["current_period_end"]:
            line = proration_line(
                ctx,
                sub,
                item,
                price,
                Decimal(item["quantity"]),
                sub["current_period_start"],
                sub["current_period_end"],
                credit=True,
                at=prorate_at,
            )
            recipe.append({"kind": "fixed", "line": line})
    return recipe


def _end(sub: Obj, at: int, reason: str) -> None:
    sub["status"] = "canceled"
    sub["ended_at"] = at
    if sub["canceled_at"] is None:
        sub["canceled_at"] = at
    sub["cancellation_details"]["reason"] = reason
    sub["pending"] = []


def cancel_subscription(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    sub = get_subscription(ctx, id)
    if sub["status"] == "canceled":
        raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
    details = params.get("cancellation_details") or {}
    for detail in ("comment", "feedback"):
        if detail in details:
            sub["cancellation_details"][detail] = None if details[detail] == "" else details[detail]
    prorate = params.get("prorate", False)
    if params.get("invoice_now", False):
        # usage up to and including this second; `prorate` credits the unused licensed time
        recipe = _final_recipe(ctx, sub, ctx.now + 1, prorate_at=ctx.now if prorate else None)
        if recipe:
            create_invoice(
                ctx,
                sub,
                recipe,
                billing_reason="subscription_cycle",
                period=(sub["current_period_start"], ctx.now),
                created=ctx.now,
                finalize=True,
            )
    sub["canceled_at"] = ctx.now
    _end(sub, ctx.now, "cancellation_requested")
    return render_subscription(ctx, sub)


def end_subscriptions_of(ctx: Ctx, customer_id: str) -> None:
    for sub in ctx.account.subscriptions.values():
        if sub["customer"] == customer_id and sub["status"] != "canceled":
            sub["canceled_at"] = ctx.now
            _end(sub, ctx.now, "cancellation_requested")


def _roll(ctx: Ctx, sub: Obj) -> None:
    """Renew (or end) a subscription whose current period is over."""
    end = sub["current_period_end"]
    if sub["cancel_at_period_end"] or (sub["cancel_at"] and sub["cancel_at"] <= end):
        stop = min(end, sub["cancel_at"]) if sub["cancel_at"] else end
        recipe = _final_recipe(ctx, sub, stop, prorate_at=None)
        if recipe:
            create_invoice(
                ctx,
                sub,
                recipe,
                billing_reason="subscription_cycle",
                period=(sub["current_period_start"], stop),
                created=stop,
                finalize=False,
            )
        _end(sub, stop, "cancellation_requested")
        return
    following = boundary(sub["anchor"], sub["interval"], sub["interval_count"], sub["boundary"] + 1)
    recipe = _final_recipe(ctx, sub, end, prorate_at=None)
    for item in sub["items"]:
        price = ctx.account.prices[item["price"]]
        if not _metered(price):
            recipe.append(
                {
                    "kind": "licensed",
                    "item": item["id"],
                    "price": price["id"],
                    "quantity": item["quantity"],
                    "period": [end, following],
                }
            )
    create_invoice(
        ctx,
        sub,
        recipe,
        billing_reason="subscription_cycle",
        period=(sub["current_period_start"], end),
        created=end,
        finalize=False,
    )
    sub["pending"] = []
    sub["boundary"] += 1
    sub["current_period_start"], sub["current_period_end"] = end, following
    for item in sub["items"]:
        item["current_period_start"], item["current_period_end"] = end, following


def tick(ctx: Ctx) -> None:
    """Bring the account up to the fake's clock: renew subscriptions, finalize due drafts."""
    for sub in list(ctx.account.subscriptions.values()):
        while sub["status"] in LIVE_STATUSES:
            if (
                sub["cancel_at"]
                and sub["cancel_at"] <= ctx.now
                and sub["cancel_at"] < sub["current_period_end"]
            ):
                stop = sub["cancel_at"]
                recipe = _final_recipe(ctx, sub, stop, prorate_at=None)
                if recipe:
                    create_invoice(
                        ctx,
                        sub,
                        recipe,
                        billing_reason="subscription_cycle",
                        period=(sub["current_period_start"], stop),
                        created=stop,
                        finalize=False,
                    )
                _end(sub, stop, "cancellation_requested")
                break
            if sub["current_period_end"] > ctx.now:
                break
            _roll(ctx, sub)
    for invoice in list(ctx.account.invoices.values()):
        due = invoice.get("automatically_finalizes_at")
        if invoice["status"] == "draft" and invoice["auto_advance"] and due is not None and due <= ctx.now:
            finalize_invoice(ctx, invoice, at=due)


# --------------------------------------------------------------------------- invoice endpoints


def public_invoice(invoice: Obj) -> Obj:
    return copy.deepcopy(invoice)


def get_invoice(ctx: Ctx, invoice_id: str) -> Obj:
    invoice = ctx.account.invoices.get(invoice_id)
    if invoice is None:
        raise no_such("invoice", invoice_id)
    if invoice["status"] == "draft" and invoice["id"] in ctx.account.invoice_sources:
        source = ctx.account.invoice_sources[invoice["id"]]
        sub = ctx.account.subscriptions[source["subscription"]]
        _set_lines(ctx, invoice, _recipe_lines(ctx, sub, source["recipe"]), preview=False)
    return invoice


def retrieve_invoice(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    return _limit_lines(public_invoice(get_invoice(ctx, id)))


def _limit_lines(invoice: Obj) -> Obj:
    """Like Stripe, embed at most the first 10 lines; the rest is at ``lines.url``."""
    lines = invoice["lines"]
    lines["has_more"] = len(lines["data"]) > 10
    lines["data"] = lines["data"][:10]
    lines.pop("total_count", None)
    return invoice


def list_invoices(ctx: Ctx, params: dict[str, Any]) -> Obj:
    rows = [
        _limit_lines(public_invoice(get_invoice(ctx, i["id"])))
        for i in reversed(ctx.account.invoices.values())
        if ("customer" not in params or i["customer"] == params["customer"])
        and ("subscription" not in params or i["subscription"] == params["subscription"])
        and ("status" not in params or i["status"] == params["status"])
        and ("collection_method" not in params or i["collection_method"] == params["collection_method"])
        and in_range(i["created"], params.get("created"))
        and in_range(i["due_date"], params.get("due_date"))
    ]
    return list_object(ctx, rows, params, "/v1/invoices", "invoice")


def list_invoice_lines(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    invoice = get_invoice(ctx, id)
    rows = copy.deepcopy(invoice["lines"]["data"])
    # lines keep the invoice's order (oldest first), unlike most lists
    return list_object(ctx, rows, params, f"/v1/invoices/{id}/lines", "invoice line item")


def finalize_invoice_endpoint(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    invoice = get_invoice(ctx, id)
    if invoice["status"] != "draft":
        raise invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
    if "auto_advance" in params:
        invoice["auto_advance"] = params["auto_advance"]
    finalize_invoice(ctx, invoice, at=ctx.now)
    return _limit_lines(public_invoice(invoice))


def pay_invoice(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    invoice = get_invoice(ctx, id)
    if invoice["status"] == "paid":
        raise invalid("Invoice is already paid")
    if invoice["status"] != "open":
        if invoice["status"] == "draft":
            finalize_invoice(ctx, invoice, at=ctx.now)
        else:
            raise invalid(f"You cannot pay an invoice with status `{invoice['status']}`.")
    if invoice["status"] == "open":
        _mark_paid(invoice, at=ctx.now)
    return _limit_lines(public_invoice(invoice))


def void_invoice(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    invoice = get_invoice(ctx, id)
    if invoice["status"] != "open":
        raise invalid(f"You can only void an open invoice; this invoice is `{invoice['status']}`.")
    invoice.update(status="void", amount_remaining=0)
    invoice["status_transitions"]["voided_at"] = ctx.now
    return _limit_lines(public_invoice(invoice))


def create_preview(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """The upcoming invoice of a subscription (or of one described by ``subscription_details``)."""
    for key in (
        "automatic_tax",
        "discounts",
        "invoice_items",
        "schedule",
        "schedule_details",
        "customer_details",
    ):
        if key in params:
            raise unmodelled(key)
    details = params.get("subscription_details") or {}
    for key in (
        "billing_cycle_anchor",
        "trial_end",
        "default_tax_rates",
        "start_date",
        "resume_at",
        "billing_mode",
    ):
        if key in details and not (key == "billing_cycle_anchor" and details[key] == "unchanged"):
            raise unmodelled(f"subscription_details[{key}]")
    if "subscription" not in params and "customer" not in params:
        raise missing_parameter("customer")
    if "customer" in params:
        get_customer(ctx, params["customer"], param="customer", status=400)
    if "subscription" in params:
        stored = get_subscription(ctx, params["subscription"], param="subscription", status=400)
        if "customer" in params and stored["customer"] != params["customer"]:
            raise invalid(
                f"The subscription `{stored['id']}` does not belong to the customer `{params['customer']}`.",
                param="subscription",
            )
        return _preview_existing(ctx, stored, details)
    if "items" in details:
        sub, recipe = build_subscription(
            ctx,
            {"customer": params["customer"], "items": details["items"]},
            persist=False,
        )
        return _preview(
            ctx,
            sub,
            recipe,
            period=(sub["current_period_start"], sub["current_period_start"]),
            created=ctx.now,
        )
    live = [
        s
        for s in ctx.account.subscriptions.values()
        if s["customer"] == params["customer"] and s["status"] in LIVE_STATUSES
    ]
    if not live:
        raise StripeError(
            404, f"No upcoming invoices for customer: {params['customer']}", code="invoice_upcoming_none"
        )
    return _preview_existing(ctx, min(live, key=lambda s: s["current_period_end"]), details)


def _preview_existing(ctx: Ctx, stored: Obj, details: Obj) -> Obj:
    if stored["status"] not in LIVE_STATUSES:
        raise StripeError(
            404, f"No upcoming invoices for customer: {stored['customer']}", code="invoice_upcoming_none"
        )
    sub = copy.deepcopy(stored)
    at = details.get("proration_date", ctx.now)
    behavior = details.get("proration_behavior", "create_prorations")
    if "items" in details:
        prorations = apply_item_changes(ctx, sub, details["items"], at=at)
        if behavior != "none":
            sub["pending"].extend(prorations)
    if details.get("cancel_now"):
        recipe = _final_recipe(ctx, sub, ctx.now + 1, prorate_at=at if behavior != "none" else None)
        return _preview(ctx, sub, recipe, period=(sub["current_period_start"], ctx.now), created=ctx.now)
    ending = details.get("cancel_at_period_end", sub["cancel_at_period_end"]) or (
        sub["cancel_at"] is not None and sub["cancel_at"] <= sub["current_period_end"]
    )
    end = sub["current_period_end"]
    recipe = _final_recipe(ctx, sub, end, prorate_at=None)
    if not ending:
        following = boundary(sub["anchor"], sub["interval"], sub["interval_count"], sub["boundary"] + 1)
        for item in sub["items"]:
            price = ctx.account.prices[item["price"]]
            if not _metered(price):
                recipe.append(
                    {
                        "kind": "licensed",
                        "item": item["id"],
                        "price": price["id"],
                        "quantity": item["quantity"],
                        "period": [end, following],
                    }
                )
    return _preview(ctx, sub, recipe, period=(sub["current_period_start"], end), created=end)


def _preview(ctx: Ctx, sub: Obj, recipe: list[Obj], *, period: tuple[int, int], created: int) -> Obj:
    invoice = _new_invoice(ctx, sub, billing_reason="upcoming", period=period, created=created, preview=True)
    _set_lines(ctx, invoice, _recipe_lines(ctx, sub, recipe), preview=True)
    customer = ctx.account.customers[sub["customer"]]
    _apply_balance(invoice, customer["balance"])
    invoice["automatically_finalizes_at"] = created + FINALIZE_AFTER
    if sub["collection_method"] == "charge_automatically" and invoice["amount_due"] > 0:
        invoice["next_payment_attempt"] = created + FINALIZE_AFTER
    return _limit_lines(invoice)


# --------------------------------------------------------------------------- subscription items


def list_subscription_items(ctx: Ctx, params: dict[str, Any]) -> Obj:
    sub = get_subscription(ctx, params["subscription"], param="subscription", status=400)
    rows = [render_item(ctx, sub, item) for item in sub["items"]]
    return list_object(
        ctx, rows, params, f"/v1/subscription_items?subscription={sub['id']}", "subscription item"
    )


def retrieve_subscription_item(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    for sub in ctx.account.subscriptions.values():
        for item in sub["items"]:
            if item["id"] == id:
                return render_item(ctx, sub, item)
    raise no_such("subscription_item", id)


def _resolve_subscription(ctx: Ctx, object_id: str) -> Obj | None:
    sub = ctx.account.subscriptions.get(object_id)
    return None if sub is None else render_subscription(ctx, sub)


def _resolve_invoice(ctx: Ctx, object_id: str) -> Obj | None:
    invoice = ctx.account.invoices.get(object_id)
    return None if invoice is None else _limit_lines(public_invoice(get_invoice(ctx, object_id)))


RESOLVERS["sub"] = _resolve_subscription
RESOLVERS["in"] = _resolve_invoice
