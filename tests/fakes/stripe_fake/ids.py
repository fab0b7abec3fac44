"""Stripe-looking identifiers: a resource prefix and a random base-62 suffix."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

# Suffix lengths as Stripe's own ids have them (e.g. ``prod_QXg1hqf4jFNsqG`` has 14).
_LENGTHS = {
    "prod": 14,
    "price": 24,
    "mtr": 24,
    "cus": 14,
    "sub": 24,
    "si": 14,
    "in": 24,
    "il": 24,
    "il_tmp": 24,
    "upcoming_in": 24,
    "evt": 24,
    "acct": 16,
    "req": 14,
    "mes": 24,
    "mtrusg": 24,
}


def random_suffix(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_suffix(_LENGTHS.get(prefix, 24))}"
