"""Secrets at rest.

Passwords and consumer secrets (low entropy or long-lived, looked up by id) are hashed with
argon2id. Bearer tokens and API keys are 256-bit random values looked up by their value on
every call, so they are stored as SHA-256 digests: brute force is hopeless and lookup is one
index probe (the gateway keys its in-memory maps on the same digest).
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
