"""Products and prices."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from .errors import StripeError, exclusive_parameters, invalid, missing_parameter, no_such, param_error
from .fixtures import template
from .ids import new_id
from .money import CURRENCIES, decimal_string, parse_decimal
from .rendering import apply_metadata, in_range, list_object
from .state import RESOLVERS, Ctx, Obj

_UNSETTABLE_PRODUCT_FIELDS = ("description", "statement_descriptor", "tax_code", "unit_label", "url")


# --------------------------------------------------------------------------- products


def _new_product(ctx: Ctx, params: dict[str, Any]) -> Obj:
    product_id = params.get("id") or new_id("prod")
    if product_id in ctx.account.products:
        raise StripeError(400, "Product already exists.", param="id", code="resource_already_exists")
    product = template("product")
    product.update(
        id=product_id,
        active=params.get("active", True),
        created=ctx.now,
        updated=ctx.now,
        default_price=None,
        description=params.get("description"),
        images=params.get("images") or [],
        livemode=ctx.account.livemode,
        marketing_features=[{"name": f["name"]} for f in params.get("marketing_features") or []],
        metadata=apply_metadata({}, params.get("metadata", {})),
        name=params["name"],
        package_dimensions=params.get("package_dimensions") or None,
        shippable=params.get("shippable"),
        statement_descriptor=params.get("statement_descriptor"),
        tax_code=params.get("tax_code"),
        unit_label=params.get("unit_label"),
        url=params.get("url"),
        type="service",
    )
    ctx.account.products[product_id] = product
    return product


def create_product(ctx: Ctx, params: dict[str, Any]) -> Obj:
    product = _new_product(ctx, params)
    if "default_price_data" in params:
        data = dict(params["default_price_data"])
        price = create_price(ctx, {**data, "product": product["id"]}, param_prefix="default_price_data")
        product["default_price"] = price["id"]
    return copy.deepcopy(product)


def get_product(ctx: Ctx, product_id: str, *, param: str = "id", status: int = 404) -> Obj:
    product = ctx.account.products.get(product_id)
    if product is None:
        raise no_such("product", product_id, param=param, status=status)
    return product


def retrieve_product(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    return copy.deepcopy(get_product(ctx, id))


def update_product(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    product = get_product(ctx, id)
    for key, value in params.items():
        if key == "metadata":
            product["metadata"] = apply_metadata(product["metadata"], value)
        elif key == "default_price":
            if value == "":
                product["default_price"] = None
                continue
            price = ctx.account.prices.get(value)
            if price is None:
                raise no_such("price", value, param="default_price", status=400)
            if price["product"] != id:
                raise invalid(
                    f"The price `{value}` does not belong to the product `{id}`.", param="default_price"
                )
            if not price["active"]:
                raise invalid("The default price of a product must be active.", param="default_price")
            product["default_price"] = value
        elif key == "marketing_features":
            product[key] = [] if value == "" else [{"name": f["name"]} for f in value]
        elif key in _UNSETTABLE_PRODUCT_FIELDS or key in (
            "images",
            "package_dimensions",
            "name",
            "active",
            "shippable",
        ):
            product[key] = None if value == "" else value
        # other accepted parameters (tax details, expand…) have no state in the fake
    product["updated"] = ctx.now
    return copy.deepcopy(product)


def delete_product(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    get_product(ctx, id)
    if any(price["product"] == id for price in ctx.account.prices.values()):
        raise invalid("This product cannot be deleted because it has one or more user-created prices.")
    del ctx.account.products[id]
    deleted = template("deleted_product")
    deleted["id"] = id
    return deleted


def list_products(ctx: Ctx, params: dict[str, Any]) -> Obj:
    ids = set(params["ids"]) if "ids" in params else None
    rows = [
        copy.deepcopy(p)
        for p in reversed(ctx.account.products.values())
        if ("active" not in params or p["active"] == params["active"])
        and (ids is None or p["id"] in ids)
        and ("shippable" not in params or p["shippable"] == params["shippable"])
        and ("url" not in params or p["url"] == params["url"])
        and ("type" not in params or p["type"] == params["type"])
        and in_range(p["created"], params.get("created"))
    ]
    return list_object(ctx, rows, params, "/v1/products", "product")


# --------------------------------------------------------------------------- prices


def _amount_pair(
    spec: dict[str, Any], integer_key: str, decimal_key: str, prefix: str
) -> tuple[int | None, Decimal | None]:
    """Read ``unit_amount``/``unit_amount_decimal`` (or the flat pair); at most one may be given."""
    if integer_key in spec and decimal_key in spec:
        raise exclusive_parameters(f"{prefix}{integer_key}", f"{prefix}{decimal_key}")
    if integer_key in spec:
        value = spec[integer_key]
        if value < 0:
            raise param_error(
                "This value must be greater than or equal to 0.", param=f"{prefix}{integer_key}"
            )
        return value, Decimal(value)
    if decimal_key in spec:
        number = parse_decimal(spec[decimal_key], f"{prefix}{decimal_key}")
        whole = int(number) if number == number.to_integral_value() else None
        return whole, number
    return None, None


def _tiers(params: dict[str, Any], prefix: str) -> list[Obj]:
    tiers: list[Obj] = []
    previous = 0
    raw = params["tiers"]
    for index, tier in enumerate(raw):
        name = f"{prefix}tiers[{index}]"
        up_to = tier["up_to"]
        last = index == len(raw) - 1
        if up_to == "inf":
            if not last:
                raise invalid(
                    f"Only the last tier may have `up_to` set to `inf` ({name}[up_to]).",
                    param=f"{name}[up_to]",
                )
            bound = None
        else:
            bound = int(up_to)
            if last:
                raise invalid(
                    "The last tier must have `up_to` set to `inf` so that every quantity is priced.",
                    param=f"{name}[up_to]",
                )
            if bound <= previous:
                raise invalid(
                    "Tiers must be in ascending order of `up_to`, each greater than the previous.",
                    param=f"{name}[up_to]",
                )
            previous = bound
        unit, unit_decimal = _amount_pair(tier, "unit_amount", "unit_amount_decimal", f"{name}[")
        flat, flat_decimal = _amount_pair(tier, "flat_amount", "flat_amount_decimal", f"{name}[")
        if unit_decimal is None and flat_decimal is None:
            raise invalid(
                f"Each tier needs a `unit_amount`, `unit_amount_decimal`, `flat_amount` or "
                f"`flat_amount_decimal` ({name}).",
                param=f"{name}[unit_amount]",
            )
        tiers.append(
            {
                "flat_amount": flat,
                "flat_amount_decimal": None if flat_decimal is None else decimal_string(flat_decimal),
                "unit_amount": unit,
                "unit_amount_decimal": None if unit_decimal is None else decimal_string(unit_decimal),
                "up_to": bound,
            }
        )
    return tiers


def create_price(ctx: Ctx, params: dict[str, Any], *, param_prefix: str = "") -> Obj:
    """Create a price (``param_prefix`` names errors for nested data, e.g. ``default_price_data``)."""
    acct = ctx.account

    def name(key: str) -> str:
        return f"{param_prefix}[{key}]" if param_prefix else key

    currency = params.get("currency")
    if currency is None:
        raise missing_parameter(name("currency"))
    if currency not in CURRENCIES:
        raise invalid(
            f"Invalid currency: {currency}. Stripe currently supports these currencies: "
            + ", ".join(sorted(CURRENCIES)),
            param=name("currency"),
        )
    if "product" in params and "product_data" in params:
        raise exclusive_parameters(name("product"), name("product_data"))
    if "product" in params:
        product = get_product(ctx, params["product"], param=name("product"), status=400)
    elif "product_data" in params:
        product = _new_product(ctx, params["product_data"])
    else:
        raise missing_parameter(name("product"))

    scheme = params.get("billing_scheme", "per_unit")
    recurring = params.get("recurring")
    rendered_recurring: Obj | None = None
    if recurring is not None:
        usage_type = recurring.get("usage_type", "licensed")
        interval_count = recurring.get("interval_count", 1)
        interval = recurring["interval"]
        limit = {"day": 1095, "week": 156, "month": 36, "year": 3}[interval]
        if interval_count < 1 or interval_count > limit:
            raise invalid(
                "The maximum billing interval is three years (1 to 3 years, 36 months, 156 weeks or "
                "1095 days).",
                param=name("recurring[interval_count]"),
            )
        meter_id = recurring.get("meter")
        if usage_type == "metered":
            if meter_id is None:
                raise invalid(
                    "A metered price requires a billing meter: set `recurring[meter]` to the id of an "
                    "active meter (legacy usage-based prices without a meter were removed in API "
                    "version 2025-03-31.basil).",
                    param=name("recurring[meter]"),
                )
            meter = acct.meters.get(meter_id)
            if meter is None:
                raise no_such("billing meter", meter_id, param=name("recurring[meter]"), status=400)
            if meter["status"] != "active":
                raise invalid(
                    f"The billing meter `{meter_id}` is inactive; prices can only use active meters.",
                    param=name("recurring[meter]"),
                )
        elif meter_id is not None:
            raise invalid(
                "`recurring[meter]` can only be set when `recurring[usage_type]` is `metered`.",
                param=name("recurring[meter]"),
            )
        rendered_recurring = {
            "interval": interval,
            "interval_count": interval_count,
            "meter": meter_id,
            "usage_type": usage_type,
            "trial_period_days": recurring.get("trial_period_days"),
        }

    unit_amount, unit_decimal = _amount_pair(params, "unit_amount", "unit_amount_decimal", "")
    tiers: list[Obj] | None = None
    if scheme == "tiered":
        if "tiers" not in params:
            raise missing_parameter(name("tiers"))
        if "tiers_mode" not in params:
            raise missing_parameter(name("tiers_mode"))
        if unit_decimal is not None:
            raise invalid(
                "`unit_amount` and `unit_amount_decimal` cannot be set when `billing_scheme=tiered`; "
                "set the amounts in `tiers` instead.",
                param=name("unit_amount" if unit_amount is not None else "unit_amount_decimal"),
            )
        if "transform_quantity" in params:
            raise invalid(
                "`transform_quantity` cannot be combined with `tiers`.", param=name("transform_quantity")
            )
        tiers = _tiers(params, f"{param_prefix}[" if param_prefix else "")
    else:
        if "tiers" in params or "tiers_mode" in params:
            raise invalid(
                "`tiers` and `tiers_mode` can only be set when `billing_scheme=tiered`.",
                param=name("tiers" if "tiers" in params else "tiers_mode"),
            )
        if unit_decimal is None and "custom_unit_amount" not in params:
            raise invalid(
                "Prices with `billing_scheme=per_unit` need one of `unit_amount`, `unit_amount_decimal` "
                "or `custom_unit_amount`.",
                param=name("unit_amount"),
                code="parameter_missing",
            )

    lookup_key = params.get("lookup_key")
    if lookup_key is not None:
        holder = next((p for p in acct.prices.values() if p["lookup_key"] == lookup_key), None)
        if holder is not None:
            if not params.get("transfer_lookup_key"):
                raise invalid(
                    f"A price (`{holder['id']}`) already uses that lookup key.", param=name("lookup_key")
                )
            holder["lookup_key"] = None

    custom = params.get("custom_unit_amount")
    transform = params.get("transform_quantity")
    price = template("price")
    price.update(
        id=new_id("price"),
        active=params.get("active", True),
        billing_scheme=scheme,
        created=ctx.now,
        currency=currency,
        currency_options=None,
        custom_unit_amount=None
        if custom is None
        else {k: custom.get(k) for k in ("maximum", "minimum", "preset")},
        livemode=acct.livemode,
        lookup_key=lookup_key,
        metadata=apply_metadata({}, params.get("metadata", {})),
        nickname=params.get("nickname"),
        product=product["id"],
        recurring=rendered_recurring,
        tax_behavior=params.get("tax_behavior", "unspecified"),
        tiers=tiers,
        tiers_mode=params.get("tiers_mode") if scheme == "tiered" else None,
        transform_quantity=None
        if transform is None
        else {"divide_by": transform["divide_by"], "round": transform["round"]},
        type="recurring" if rendered_recurring is not None else "one_time",
        unit_amount=unit_amount,
        unit_amount_decimal=None if unit_decimal is None else decimal_string(unit_decimal),
    )
    acct.prices[price["id"]] = price
    return copy.deepcopy(price)


def get_price(ctx: Ctx, price_id: str, *, param: str = "id", status: int = 404) -> Obj:
    price = ctx.account.prices.get(price_id)
    if price is None:
        raise no_such("price", price_id, param=param, status=status)
    return price


def retrieve_price(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    return copy.deepcopy(get_price(ctx, id))


def update_price(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    price = get_price(ctx, id)
    if "lookup_key" in params and params["lookup_key"] != "":
        holder = next(
            (
                p
                for p in ctx.account.prices.values()
                if p["lookup_key"] == params["lookup_key"] and p["id"] != id
            ),
            None,
        )
        if holder is not None:
            if not params.get("transfer_lookup_key"):
                raise invalid(f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key")
            holder["lookup_key"] = None
    for key, value in params.items():
        if key == "metadata":
            price["metadata"] = apply_metadata(price["metadata"], value)
        elif key in ("nickname", "lookup_key"):
            price[key] = None if value == "" else value
        elif key == "active":
            price["active"] = value
        elif key == "tax_behavior":
            if price["tax_behavior"] not in ("unspecified", value):
                raise invalid(
                    "tax_behavior cannot be changed once it is set to `inclusive` or `exclusive`.",
                    param="tax_behavior",
                )
            price["tax_behavior"] = value
    return copy.deepcopy(price)


def list_prices(ctx: Ctx, params: dict[str, Any]) -> Obj:
    recurring = params.get("recurring") or {}
    lookup_keys = set(params.get("lookup_keys") or [])

    def keep(p: Obj) -> bool:
        rec = p["recurring"] or {}
        return (
            ("active" not in params or p["active"] == params["active"])
            and ("product" not in params or p["product"] == params["product"])
            and ("currency" not in params or p["currency"] == params["currency"])
            and ("type" not in params or p["type"] == params["type"])
            and (not lookup_keys or p["lookup_key"] in lookup_keys)
            and all(rec.get(k) == v for k, v in recurring.items())
            and in_range(p["created"], params.get("created"))
        )

    rows = [copy.deepcopy(p) for p in reversed(ctx.account.prices.values()) if keep(p)]
    return list_object(ctx, rows, params, "/v1/prices", "price")


def _resolve_product(ctx: Ctx, object_id: str) -> Obj | None:
    return copy.deepcopy(ctx.account.products.get(object_id))


def _resolve_price(ctx: Ctx, object_id: str) -> Obj | None:
    return copy.deepcopy(ctx.account.prices.get(object_id))


RESOLVERS["prod"] = _resolve_product
RESOLVERS["price"] = _resolve_price
