"""Reading submitted forms into the REST bodies the domain services validate.

Only the shape is handled here (text to numbers, checkboxes to booleans); every rule about the
values stays with the services, so a page and the REST API refuse the same things in the same
words. Problems of shape are reported with the field's label as the person sees it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from tollway.errors import BadRequest


class FormReader:
    def __init__(self, form: FormData) -> None:
        self.form = form

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def required(self, name: str, label: str) -> str:
        value = self.text(name)
        if not value:
            raise BadRequest(f"{label} is required.")
        return value

    def whole(self, name: str, label: str, default: int | None = None) -> int | None:
        raw = self.text(name).replace(",", "").replace("_", "")
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise BadRequest(f"{label} must be a whole number (got '{raw[:40]}').") from None

    def checked(self, name: str) -> bool:
        return self.text(name).lower() in ("on", "true", "1", "yes")

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]


def words_for(exc: ValidationError) -> str:
    """A schema's validation errors, each naming its field the way the REST API does (first three)."""
    parts = []
    for err in exc.errors()[:3]:
        path = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        message = str(err.get("msg", "is not valid")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            message = "is required"
        parts.append(f"'{path}': {message}" if path else message)
    return "; ".join(parts)


_QUOTED = re.compile(r"'([A-Za-z_][A-Za-z0-9_.]*)'")


def humanize(message: str, labels: dict[str, str]) -> str:
    """Replace quoted field paths ('monetization.properties.pricePerRequest') by the form's labels."""

    def label(match: re.Match[str]) -> str:
        path = match.group(1)
        found = labels.get(path) or labels.get(path.rsplit(".", 1)[-1])
        return found if found else match.group(0)

    text = _QUOTED.sub(label, message).strip()
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


_FIELD_PART = re.compile(r"'([A-Za-z_][A-Za-z0-9_.]*)'(?::\s*|\s+)(.*)", re.S)


def field_errors(message: str, labels: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """A refusal split by the form fields it names ("'amount': must not be 0; 'reason': is required"):
    each field's words, to show under it; and what is about no field of the form (None if nothing),
    for the top of the form. Both in the person's words, with the form's labels."""
    fields: dict[str, str] = {}
    rest = []
    for part in message.split("; "):
        found = _FIELD_PART.fullmatch(part.strip())
        if found is None or found.group(1) not in labels:
            rest.append(part)
            continue
        name, words = found.group(1), found.group(2).strip()
        text = f"{labels[name]} {words}" if words.startswith("is ") else words
        fields.setdefault(name, humanize(text, labels))
    return fields, humanize("; ".join(rest), labels) if rest else None


def strip_none(value: Any) -> Any:
    """Drop keys whose value is None, recursively, so absent fields keep the service's defaults."""
    if isinstance(value, dict):
        return {k: strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_none(v) for v in value]
    return value
