"""Shared response helpers: list objects and pagination, ``expand``, metadata, filters."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from .errors import invalid, no_such, param_error
from .state import Ctx, Obj, resolve

# Fields Stripe leaves out unless they are named in ``expand`` ("includable" fields).
INCLUDABLE = {"price": ("tiers", "currency_options")}


def list_object(ctx: Ctx, items: Iterable[Obj], params: dict[str, Any], url: str, kind: str) -> Obj:
    """Stripe's list object over ``items`` (newest first), honouring limit/starting_after/ending_before."""
    rows = list(items)
    limit = params.get("limit", 10)
    if limit < 1 or limit > 100:
        raise param_error(
            "This value must be greater than or equal to 1."
            if limit < 1
            else "This value must be less than or equal to 100.",
            param="limit",
        )
    ids = [row["id"] for row in rows]
    if "starting_after" in params and "ending_before" in params:
        raise param_error(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="starting_after",
            code="parameters_exclusive",
        )
    if "starting_after" in params:
        cursor = params["starting_after"]
        if cursor not in ids:
            raise no_such(kind, cursor, param="starting_after", status=400)
        rows = rows[ids.index(cursor) + 1 :]
        has_more = len(rows) > limit
        rows = rows[:limit]
    elif "ending_before" in params:
        cursor = params["ending_before"]
        if cursor not in ids:
            raise no_such(kind, cursor, param="ending_before", status=400)
        before = rows[: ids.index(cursor)]
        has_more = len(before) > limit
        rows = before[-limit:]
    else:
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"object": "list", "data": rows, "has_more": has_more, "url": url}


def in_range(value: int | None, spec: Any) -> bool:
    """A ``created``-style filter: an exact integer or ``{gt, gte, lt, lte}``."""
    if spec is None:
        return True
    if value is None:
        return False
    if isinstance(spec, int):
        return value == spec
    checks = {
        "gt": lambda bound: value > bound,
        "gte": lambda bound: value >= bound,
        "lt": lambda bound: value < bound,
        "lte": lambda bound: value <= bound,
    }
    return all(checks[op](bound) for op, bound in spec.items() if op in checks)


def apply_metadata(existing: dict[str, str] | None, value: Any) -> dict[str, str]:
    """Stripe's metadata update: ``""`` clears all keys, a key set to ``""`` is removed."""
    if value == "":
        return {}
    merged = dict(existing or {})
    for key, item in value.items():
        if item == "":
            merged.pop(key, None)
        else:
            merged[key] = item
    return merged


def expand(ctx: Ctx, obj: Obj, paths: list[str]) -> Obj:
    """Replace ids by objects along each ``expand`` path, then drop includable fields not asked for."""
    result = copy.deepcopy(obj)
    for path in paths:
        parts = path.split(".")
        if len([part for part in parts if part != "data"]) > 4:  # list "data" hops are not levels
            raise invalid(
                f"You cannot expand more than 4 levels of a property. Property: {path}", param="expand"
            )
        _expand_at(ctx, result, parts, path)
    _strip_includable(result, "", set(paths))
    return result


def _expand_at(ctx: Ctx, node: Any, parts: list[str], path: str) -> None:
    if isinstance(node, list):
        for element in node:
            _expand_at(ctx, element, parts, path)
        return
    if not isinstance(node, dict):
        raise invalid(f"This property cannot be expanded ({parts[0]}).", param="expand")
    key, rest = parts[0], parts[1:]
    if node.get("object") == "price" and key in INCLUDABLE["price"] and not rest:
        return  # includable, kept by _strip_includable
    if key not in node:
        raise invalid(f"This property cannot be expanded ({key}).", param="expand")
    value = node[key]
    if isinstance(value, str):
        target = resolve(ctx, value)
        if target is None:
            raise invalid(f"This property cannot be expanded ({key}).", param="expand")
        node[key] = value = target
    elif value is None:
        return
    if rest:
        _expand_at(ctx, value, rest, path)


def _strip_includable(node: Any, prefix: str, paths: set[str]) -> None:
    if isinstance(node, list):
        for element in node:
            _strip_includable(element, prefix, paths)
        return
    if not isinstance(node, dict):
        return
    for field in INCLUDABLE.get(str(node.get("object")), ()):
        if field in node and f"{prefix}{field}" not in paths:
            del node[field]
    for key, value in node.items():
        if isinstance(value, dict | list):
            _strip_includable(value, f"{prefix}{key}.", paths)
