"""HTTP Basic credentials (RFC 7617) as the identity endpoints receive them."""

from __future__ import annotations

import base64
import binascii

BASIC_REALM = 'Basic realm="Tollway"'


class MalformedBasic(ValueError):
    """The Authorization header says Basic but does not carry ``base64(name:secret)``."""


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``(name, secret)`` from an ``Authorization: Basic …`` header; None when the scheme is not Basic."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise MalformedBasic("the Basic credentials are not base64 of 'name:secret'") from None
    name, sep, secret = decoded.partition(":")
    if not sep or not name:
        raise MalformedBasic("the Basic credentials are not base64 of 'name:secret'")
    return name, secret
