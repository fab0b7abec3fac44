"""The signature on each delivery, in the form Stripe uses so that receivers know it.

Header ``Tollway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``. The
timestamp is signed with the body: a receiver refuses old ones (``TOLERANCE``) and so replays.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Tollway-Signature"
TOLERANCE = 300  # seconds a receiver should accept a signature for


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def header_value(secret: str, body: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={signature(secret, stamp, body)}"


def verify(
    secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = TOLERANCE
) -> bool:
    """What a receiver does (and the tests): the signature matches and is recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, stamp, body))
