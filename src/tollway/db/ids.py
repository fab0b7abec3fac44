"""The shape of Tollway's object ids, checked before a look-up."""

from __future__ import annotations

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def is_object_id(value: str) -> bool:
    """Could ``value`` be one of our ids? Anything else is simply "not found" (never sent to the DB,
    where e.g. a NUL byte is an error on PostgreSQL)."""
    return 0 < len(value) <= 64 and all(char in _ID_CHARS for char in value)
