"""Decoding of Stripe's nested form encoding (``items[0][price]=…``, ``expand[]=…``).

The result keeps every leaf a string and every bracketed level a ``dict``; arrays stay dicts keyed
by their index (``"0"``, ``"1"``…, with ``[]`` appending the next index) until the endpoint's
parameter schema says the value is a list. That keeps ``metadata[0]=x`` a map, as Stripe does.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import param_error

FormValue = str | dict[str, Any]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def split_key(key: str) -> list[str]:
    """``items[0][price]`` -> ``["items", "0", "price"]``; ``expand[]`` -> ``["expand", ""]``."""
    match = _KEY.match(key)
    if match is None:
        return [key]
    return [match.group(1), *_PART.findall(match.group(2))]


def parse_form(body: str) -> dict[str, Any]:
    """Parse an ``application/x-www-form-urlencoded`` body or query string the way Stripe does."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
        parts = split_key(key)
        node = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                if isinstance(node.get(part), dict):
                    raise param_error(f"Invalid value for {key}: it is also used as a hash", param=parts[0])
                node[part] = value
                break
            child = node.get(part)
            if child is None:
                child = {}
                node[part] = child
            elif not isinstance(child, dict):
                raise param_error(f"Invalid hash for {key}", param=parts[0])
            node = child
    return root
