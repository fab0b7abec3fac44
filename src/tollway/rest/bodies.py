"""JSON request bodies that parse but cannot be kept: refused with a 400 that says why.

Python's ``json`` accepts two shapes that fail further in, as a 500:

- a string with a lone UTF-16 surrogate (``"\\ud800"``, or the same code point as raw bytes):
  it cannot be encoded as UTF-8, so no database stores it and no JSON answer renders it;
- nesting deep enough (``[`` x 20000) to exhaust the recursion limit of the decoder itself, or of
  whatever walks the value next (validation, encoding it for the database).

:func:`decode_json` is ``json.loads`` refusing both, the nesting measured on the text before
anything recurses into it. :class:`JsonBodyCheck` applies it to every request body labelled JSON
(``application/json``, ``application/*+json``) as the endpoint reads it, so every body FastAPI
parses is covered here, once; an endpoint that parses its body itself (SCIM reads any body as
JSON) calls :func:`decode_json` and answers in its own protocol's shape.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_DEPTH = 64  # arrays and objects inside each other; Tollway's own bodies need under 10
_LONE_SURROGATE = (
    "contains a lone UTF-16 surrogate (\\ud800-\\udfff without its pair), which cannot be stored"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON string (escapes included; an unterminated one runs to the end, so that scanning stays
# linear), or a bracket outside of strings.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


class JsonRefused(ValueError):
    """Valid JSON that Tollway refuses; the message says why, naming the field where there is one."""


class TooDeep(JsonRefused):
    def __init__(self) -> None:
        super().__init__(f"the body nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects")


class LoneSurrogate(JsonRefused):
    pass


def json_text(body: bytes) -> str:
    """The body as ``json.loads`` decodes bytes: UTF-8, -16 or -32, lone surrogates kept."""
    return body.decode(json.detect_encoding(body), "surrogatepass")


def check_depth(text: str) -> None:
    """Raise :class:`TooDeep` if arrays and objects nest deeper than :data:`MAX_JSON_DEPTH`."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for token in _TOKENS.finditer(text):
        char = text[token.start()]
        if char == '"':
            continue
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise TooDeep()
        else:
            depth -= 1


def check_strings(value: Any, path: str = "") -> None:
    """Raise :class:`LoneSurrogate` naming the first field (in document order) that has one.

    Recursive: call it on values whose depth :func:`check_depth` has bounded.
    """
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise LoneSurrogate(f"'{path or 'body'}': {_LONE_SURROGATE}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise LoneSurrogate(f"'{path or 'body'}': a field name {_LONE_SURROGATE}")
            check_strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_strings(item, f"{path}[{index}]")


def decode_json(body: bytes | str) -> Any:
    """``json.loads(body)``, refusing what cannot be kept (:class:`JsonRefused`).

    Text that is not JSON raises ``ValueError`` as ``json.loads`` does.
    """
    text = body if isinstance(body, str) else json_text(body)
    check_depth(text)
    value = json.loads(text)
    if "\\u" in text or _SURROGATE.search(text):
        check_strings(value)
    return value


def refusal(body: bytes) -> JsonRefused | None:
    """Why ``body`` is refused; None for a body that is fine, or not JSON at all (its parser says so)."""
    try:
        decode_json(body)
    except JsonRefused as refused:
        return refused
    except ValueError:
        return None
    return None


class BadJsonBody(HTTPException):
    """A JSON body refused as the endpoint reads it: a 400 with the reason as its description."""

    def __init__(self, refused: JsonRefused) -> None:
        super().__init__(400, str(refused))
        self.refused = refused


def _labelled_json(scope: Scope) -> bool:
    """The request says its body is JSON, as FastAPI decides whether to parse it."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json" or (
                media_type.startswith(b"application/") and media_type.endswith(b"+json")
            )
    return False


class JsonBodyCheck:
    """ASGI middleware: a request body labelled JSON that :func:`decode_json` refuses raises
    :class:`BadJsonBody` when the endpoint has read all of it (before anything parses it).

    The exception is raised from ``receive``, inside the endpoint, so the app's handlers render it
    (the error body of the REST APIs) and an endpoint with its own error shape may catch it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _labelled_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def receive_checked() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = b"".join(chunks)
                    chunks.clear()
                    refused = refusal(body)
                    if refused is not None:
                        raise BadJsonBody(refused)
            return message

        await self.app(scope, receive_checked, send)
