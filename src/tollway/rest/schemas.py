"""Building blocks for request and response bodies.

Request bodies refuse unknown fields and do not coerce types (``"5"`` is not an integer), so a
client's mistake is a 400 naming the field rather than a silent guess. Strings refuse control
characters and lone surrogates: they cannot be stored by every database nor rendered as JSON.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from tollway.errors import BadRequest

MAX_BIG = 10**15  # counts stored in BIGINT columns; far above any real quota
MAX_INT = 2**31 - 1  # counts stored in INTEGER columns


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(ResponseBody):
    code: int
    message: str
    description: str


def _check_printable(value: str, allowed: str) -> str:
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or (category == "Cc" and char not in allowed):
            raise ValueError("must not contain control characters")
    return value


def _single_line(value: str) -> str:
    return _check_printable(value, "")


def _multi_line(value: str) -> str:
    return _check_printable(value, "\t\n\r")


# Use as Annotated[str, StringConstraints(...), SingleLine].
SingleLine = AfterValidator(_single_line)
MultiLine = AfterValidator(_multi_line)


class Choice:
    """A string enum accepted case-insensitively (and through aliases), kept in canonical spelling."""

    def __init__(self, *options: str, aliases: dict[str, str] | None = None) -> None:
        self.options = options
        self.table = {option.lower(): option for option in options}
        self.table.update({alias.lower(): target for alias, target in (aliases or {}).items()})

    def canonical(self, value: object) -> object:
        if not isinstance(value, str):
            return value  # the str validator reports the wrong type
        found = self.table.get(value.strip().lower())
        if found is None:
            raise ValueError(f"must be one of {', '.join(self.options)}")
        return found

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.canonical, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "enum": list(self.options)}


MAX_QUERY_LENGTH = 256
# What clean_query checks, for the OpenAPI documents (control characters are not expressible).
QUERY_TEXT_SCHEMA: dict[str, Any] = {"maxLength": MAX_QUERY_LENGTH}


def clean_query(value: str | None, field: str, *, max_length: int = MAX_QUERY_LENGTH) -> str | None:
    """Check a query parameter the way body strings are checked."""
    if value is None:
        return None
    try:
        _single_line(value)
    except ValueError as exc:
        raise BadRequest(f"'{field}': {exc}") from None
    if len(value) > max_length:
        raise BadRequest(f"'{field}': must be at most {max_length} characters")
    return value


def canonical_choice(value: str, choices: Iterable[str], field: str) -> str:
    """``value`` matched case-insensitively against ``choices``; answered in their spelling."""
    options = list(choices)
    for option in options:
        if option.lower() == value.strip().lower():
            return option
    raise BadRequest(f"'{field}': must be one of {', '.join(options)}")
