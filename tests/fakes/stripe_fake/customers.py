"""Customers: CRUD, list and the Search Query Language subset used by integrations."""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

from .errors import invalid, no_such, param_error
from .fixtures import template
from .ids import new_id, random_suffix
from .rendering import apply_metadata, in_range, list_object
from .state import RESOLVERS, Ctx, Obj

_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
_SIMPLE = (
    "name",
    "email",
    "description",
    "phone",
    "preferred_locales",
    "tax_exempt",
    "balance",
    "next_invoice_sequence",
)


def _address(value: Any) -> Obj | None:
    if value in ("", None):
        return None
    return {key: value.get(key) for key in _ADDRESS_KEYS}


def _apply(customer: Obj, params: dict[str, Any]) -> None:
    for key, value in params.items():
        if key == "metadata":
            customer["metadata"] = apply_metadata(customer["metadata"], value)
        elif key in _SIMPLE:
            customer[key] = None if value == "" else value
        elif key == "address":
            customer["address"] = _address(value)
        elif key == "shipping":
            customer["shipping"] = (
                None
                if value == ""
                else {
                    "address": _address(value.get("address")),
                    "name": value.get("name"),
                    "phone": value.get("phone"),
                }
            )
        elif key == "invoice_prefix":
            customer["invoice_prefix"] = value
        elif key == "invoice_settings":
            settings = customer["invoice_settings"]
            for sub_key, sub_value in value.items():
                if sub_key == "default_payment_method" or sub_key in ("custom_fields", "footer"):
                    settings[sub_key] = None if sub_value == "" else sub_value
                elif sub_key == "rendering_options":
                    settings[sub_key] = (
                        None
                        if sub_value == ""
                        else {
                            "amount_tax_display": sub_value.get("amount_tax_display"),
                            "template": sub_value.get("template"),
                        }
                    )
        elif key == "payment_method" and not value.startswith("pm_"):
            # The fake models no PaymentMethod objects: any ``pm_…`` id counts as attached.
            raise no_such("PaymentMethod", value, param="payment_method", status=400)
        # other accepted parameters (tax ids, cash balance, test clock…) have no state in the fake


def create_customer(ctx: Ctx, params: dict[str, Any]) -> Obj:
    customer = template("customer")
    customer.update(
        id=new_id("cus"),
        address=None,
        balance=0,
        created=ctx.now,
        currency=None,
        default_source=None,
        delinquent=False,
        description=None,
        discount=None,
        email=None,
        invoice_prefix=random_suffix(8).upper(),
        invoice_settings={
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        livemode=ctx.account.livemode,
        metadata={},
        name=None,
        next_invoice_sequence=1,
        phone=None,
        preferred_locales=[],
        shipping=None,
        tax_exempt="none",
        test_clock=None,
    )
    _apply(customer, params)
    ctx.account.customers[customer["id"]] = customer
    return copy.deepcopy(customer)


def get_customer(ctx: Ctx, customer_id: str, *, param: str = "id", status: int = 404) -> Obj:
    customer = ctx.account.customers.get(customer_id)
    if customer is None or customer_id in ctx.account.deleted_customers:
        raise no_such("customer", customer_id, param=param, status=status)
    return customer


def _deleted(customer_id: str) -> Obj:
    deleted = template("deleted_customer")
    deleted["id"] = customer_id
    return deleted


def retrieve_customer(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    if id in ctx.account.deleted_customers:
        return _deleted(id)  # Stripe answers a deleted customer with its deleted stub
    return copy.deepcopy(get_customer(ctx, id))


def update_customer(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    customer = get_customer(ctx, id)
    _apply(customer, params)
    return copy.deepcopy(customer)


def delete_customer(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    get_customer(ctx, id)
    from .billing import end_subscriptions_of  # deleting a customer cancels its subscriptions at once

    end_subscriptions_of(ctx, id)
    ctx.account.deleted_customers.add(id)
    return _deleted(id)


def _live(ctx: Ctx) -> list[Obj]:
    return [
        c for c in reversed(ctx.account.customers.values()) if c["id"] not in ctx.account.deleted_customers
    ]


def list_customers(ctx: Ctx, params: dict[str, Any]) -> Obj:
    rows = [
        copy.deepcopy(c)
        for c in _live(ctx)
        if ("email" not in params or c["email"] == params["email"])
        and in_range(c["created"], params.get("created"))
    ]
    return list_object(ctx, rows, params, "/v1/customers", "customer")


# --------------------------------------------------------------------------- search

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?
        (?P<field>[a-z_]+(?:\[(?P<q1>['"])(?P<key>[^'"]+)(?P=q1)\])?)
        \s*(?P<op>>=|<=|:|~|>|<|=)\s*
        (?:(?P<q2>['"])(?P<text>(?:\\.|(?!(?P=q2)).)*)(?P=q2)|(?P<num>-?\d+)|(?P<null>null))\s*""",
    re.VERBOSE,
)
_SEARCHABLE = ("created", "email", "metadata", "name", "phone")


def _parse_query(query: str) -> tuple[str, list[dict[str, Any]]]:
    clauses: list[dict[str, Any]] = []
    joiners: set[str] = set()
    position = 0
    while True:
        match = _CLAUSE.match(query, position)
        if match is None:
            raise invalid(f"Invalid search query: could not parse `{query[position:]}`.", param="query")
        field = match.group("field").split("[")[0]
        if field not in _SEARCHABLE:
            raise invalid(
                f"Field `{field}` is an unsupported search field for resource `customers`. See "
                "http://stripe.com/docs/search#query-fields-for-customers for a list of supported fields.",
                param="query",
            )
        clauses.append(
            {
                "negate": match.group("neg") == "-",
                "field": field,
                "key": match.group("key"),
                "op": match.group("op"),
                "text": None if match.group("text") is None else match.group("text").replace("\\", ""),
                "number": None if match.group("num") is None else int(match.group("num")),
                "null": match.group("null") is not None,
            }
        )
        position = match.end()
        if position >= len(query):
            break
        joiner = re.match(r"(AND|OR)\s+", query[position:])
        if joiner is None:
            raise invalid(f"Invalid search query: expected AND or OR at `{query[position:]}`.", param="query")
        joiners.add(joiner.group(1))
        position += joiner.end()
    if len(joiners) > 1:
        raise invalid("Search queries cannot mix AND and OR.", param="query")
    return (joiners.pop() if joiners else "AND"), clauses


def _matches(customer: Obj, clause: dict[str, Any]) -> bool:
    field, op = clause["field"], clause["op"]
    value: Any = customer["metadata"].get(clause["key"]) if field == "metadata" else customer.get(field)
    if clause["null"]:
        result = value is None
    elif field == "created":
        number = clause["number"]
        if number is None:
            raise invalid("`created` must be compared with a number.", param="query")
        result = {
            ":": value == number,
            "=": value == number,
            ">": value > number,
            "<": value < number,
            ">=": value >= number,
            "<=": value <= number,
        }[op]
    else:
        text = clause["text"] if clause["text"] is not None else str(clause["number"])
        if op == "~":
            if len(text) < 3:
                raise invalid("Substring matching (~) needs at least 3 characters.", param="query")
            result = value is not None and text.lower() in str(value).lower()
        elif op == ":":
            result = value is not None and str(value).lower() == text.lower()
        else:
            raise invalid(f"Operator `{op}` is not supported for field `{field}`.", param="query")
    return not result if clause["negate"] else result


def search_customers(ctx: Ctx, params: dict[str, Any]) -> Obj:
    joiner, clauses = _parse_query(params["query"])
    combine = all if joiner == "AND" else any
    rows = [copy.deepcopy(c) for c in _live(ctx) if combine(_matches(c, clause) for clause in clauses)]
    limit = params.get("limit", 10)
    if limit < 1 or limit > 100:
        raise param_error("This value must be between 1 and 100.", param="limit")
    offset = 0
    if "page" in params:
        try:
            offset = int(base64.urlsafe_b64decode(params["page"].encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise invalid("Invalid page token.", param="page") from None
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    result: Obj = {
        "object": "search_result",
        "data": page,
        "has_more": more,
        "next_page": base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None,
        "url": "/v1/customers/search",
    }
    if "total_count" in (params.get("expand") or []):
        result["total_count"] = len(rows)
    return result


def _resolve_customer(ctx: Ctx, object_id: str) -> Obj | None:
    if object_id in ctx.account.deleted_customers:
        return _deleted(object_id)
    return copy.deepcopy(ctx.account.customers.get(object_id))


RESOLVERS["cus"] = _resolve_customer
