"""Request validation driven by the official SDK's typed parameters.

Every endpoint names the ``TypedDict`` that ``stripe`` itself declares for it (e.g.
``stripe.params.PriceCreateParams``). Its annotations are walked recursively into a small schema
tree, and each request is checked against it: unknown keys are refused with Stripe's
``parameter_unknown`` error, missing required keys with ``parameter_missing``, and scalar values
are coerced from their form-encoded strings (``"true"`` -> ``True``, ``"2000"`` -> ``2000``)
with Stripe's messages for values that do not parse.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ForwardRef, Literal, Union, get_args, get_origin

import typing_extensions
from stripe._request_options import RequestOptions

from .errors import StripeError, missing_parameter, param_error, unknown_parameter

# Keys of the SDK's per-call options that every *Params TypedDict inherits; they are client
# options, never wire parameters, so a request carrying them is refused like any unknown key.
_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)

_INT = re.compile(r"^-?\d+$")


@dataclass(eq=False)
class Node:
    kind: str  # str | int | float | bool | any | literal | list | map | object | union
    item: Node | None = None
    values: tuple[str, ...] = ()
    options: list[Node] = field(default_factory=list)
    fields: dict[str, Node] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    name: str = ""

    @property
    def allows_empty(self) -> bool:
        """Whether ``""`` (Stripe's "unset") is an accepted value."""
        if self.kind == "literal":
            return "" in self.values
        if self.kind == "union":
            return any(option.allows_empty for option in self.options)
        return False


_CACHE: dict[type, Node] = {}


def _evaluate(tp: Any, namespace: dict[str, Any]) -> Any:
    if isinstance(tp, ForwardRef):
        tp = tp.__forward_arg__
    if isinstance(tp, str):
        # Forward references in the SDK's own annotations, resolved in the SDK module that wrote them.
        return eval(tp, namespace)  # noqa: S307
    return tp


def schema_for(typed_dict: type) -> Node:
    """The schema tree of one of the SDK's TypedDicts (cached)."""
    cached = _CACHE.get(typed_dict)
    if cached is not None:
        return cached
    node = Node("object", name=typed_dict.__name__)
    _CACHE[typed_dict] = node  # registered before recursing: the SDK's params can be recursive
    namespace = dict(vars(sys.modules[typed_dict.__module__]))
    top_level = any(base is RequestOptions for base in getattr(typed_dict, "__orig_bases__", ()))
    required: set[str] = set(getattr(typed_dict, "__required_keys__", frozenset()))
    for key, annotation in typed_dict.__annotations__.items():
        if top_level and key in _REQUEST_OPTION_KEYS:
            required.discard(key)
            continue
        node.fields[key] = _node(annotation, namespace)
    node.required = frozenset(required & set(node.fields))
    return node


def _node(annotation: Any, namespace: dict[str, Any]) -> Node:
    tp = _evaluate(annotation, namespace)
    origin = get_origin(tp)
    if origin in (
        typing.NotRequired,
        typing.Required,
        typing_extensions.NotRequired,
        typing_extensions.Required,
    ):
        return _node(get_args(tp)[0], namespace)
    if origin is Literal:
        return Node(
            "literal", values=tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in get_args(tp))
        )
    if origin in (Union, types.UnionType):
        options = [_node(arg, namespace) for arg in get_args(tp) if arg is not type(None)]
        # Literal options first: "" (unset) or "inf" must win over the typed arm.
        options.sort(key=lambda option: option.kind != "literal")
        return options[0] if len(options) == 1 else Node("union", options=options)
    if origin in (list, typing.List):  # noqa: UP006
        return Node("list", item=_node(get_args(tp)[0], namespace))
    if origin in (dict, typing.Dict):  # noqa: UP006
        return Node("map", item=_node(get_args(tp)[1], namespace))
    if typing_extensions.is_typeddict(tp):
        return schema_for(tp)
    if tp is str:
        return Node("str")
    if tp is bool:
        return Node("bool")
    if tp is int:
        return Node("int")
    if tp is float:
        return Node("float")
    return Node("any")


def _join(values: tuple[str, ...]) -> str:
    shown = [v for v in values if v != ""]
    if len(shown) <= 1:
        return "".join(shown)
    if len(shown) == 2:
        return f"{shown[0]} or {shown[1]}"
    return ", ".join(shown[:-1]) + f", or {shown[-1]}"


def _empty_error(param: str) -> StripeError:
    return param_error(
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to unset a "
        f"parameter; however '{param}' cannot be unset. You should remove '{param}' from your request "
        "or supply a non-empty value.",
        param=param,
        code="parameter_invalid_empty",
    )


def coerce(node: Node, value: Any, param: str) -> Any:
    """Check ``value`` (form strings or JSON) against ``node``; return it with scalars typed."""
    kind = node.kind
    if value == "" and isinstance(value, str) and not node.allows_empty and kind not in ("str", "any"):
        raise _empty_error(param)
    if kind == "any":
        return value
    if kind == "str":
        if isinstance(value, str):
            if value == "":
                raise _empty_error(param)
            return value
        if isinstance(value, bool | int | float) and not isinstance(value, bool):
            return str(value)
        raise param_error(f"Invalid string: {value!r}", param=param)
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INT.match(value):
            return int(value)
        raise param_error(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(Decimal(value))
            except InvalidOperation:
                pass
        raise param_error(f"Invalid decimal: {value}", param=param)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise param_error(f"Invalid boolean: {value}", param=param)
    if kind == "literal":
        text = str(value).lower() if isinstance(value, bool) else value
        if isinstance(text, str | int) and str(text) in node.values:
            return str(text)
        raise param_error(f"Invalid {param}: must be one of {_join(node.values)}", param=param)
    if kind == "union":
        failures: list[tuple[Node, StripeError]] = []
        for option in node.options:
            try:
                return coerce(option, value, param)
            except StripeError as error:
                failures.append((option, error))
        typed = [error for option, error in failures if option.kind != "literal"]
        raise (typed or [error for _, error in failures])[0]
    if kind == "list":
        assert node.item is not None
        items: list[Any]
        if isinstance(value, list):
            items = value
        elif isinstance(value, dict) and all(_INT.match(k) for k in value):
            items = [value[k] for k in sorted(value, key=int)]
        else:
            raise param_error(f"Invalid array: {param}", param=param)
        return [coerce(node.item, item, f"{param}[{index}]") for index, item in enumerate(items)]
    if kind == "map":
        assert node.item is not None
        if not isinstance(value, dict):
            raise param_error(f"Invalid hash: {param}", param=param)
        # a map's value may be "" (e.g. ``metadata[key]=`` removes that key)
        return {
            str(k): v if v == "" and node.item.kind == "str" else coerce(node.item, v, f"{param}[{k}]")
            for k, v in value.items()
        }
    # object (a TypedDict)
    if not isinstance(value, dict):
        raise param_error(f"Invalid hash: {param}", param=param)
    return _coerce_object(node, value, prefix=param)


def _coerce_object(node: Node, value: dict[str, Any], *, prefix: str | None) -> dict[str, Any]:
    def name(key: str) -> str:
        return key if prefix is None else f"{prefix}[{key}]"

    result: dict[str, Any] = {}
    for key, item in value.items():
        child = node.fields.get(key)
        if child is None:
            raise unknown_parameter(name(key))
        result[key] = coerce(child, item, name(key))
    for key in sorted(node.required):
        if key not in value:
            raise missing_parameter(name(key))
    return result


def validate(typed_dict: type, params: dict[str, Any]) -> dict[str, Any]:
    """Validate a whole request's parameters against the SDK TypedDict of its endpoint."""
    return _coerce_object(schema_for(typed_dict), params, prefix=None)
