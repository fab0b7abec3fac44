"""Dot segments in a request's path: RFC 3986 section 5.2.4 ``remove_dot_segments``.

A segment is a dot segment when it is ``.`` or ``..`` with any of its dots percent-encoded in
either case (``%2e``, ``%2E``, ``.%2e``, ``%2E.`` ...): a backend that decodes before it
normalises would otherwise climb where the gateway did not look. Other segments are kept byte for
byte; ``%2F`` stays inside its segment, never a separator.

Only paths that may hold a dot segment come here (the proxy checks for ``/.`` and ``/%2``
first), so the common call pays two substring scans and nothing else.
"""

from __future__ import annotations

NO_CLIMB = 1 << 30  # no ".." removed a segment
ABOVE_ROOT = -1  # a ".." found no segment left to remove

DOT, PERCENT = ord("."), ord("%")


def dots(segment: bytes) -> int:
    """1 for a ``.`` segment, 2 for a ``..`` segment (in any encoding), otherwise 0."""
    if not segment or len(segment) > 6 or segment[0] not in (DOT, PERCENT):
        return 0
    plain = segment.replace(b"%2e", b".").replace(b"%2E", b".")
    if plain == b".":
        return 1
    if plain == b"..":
        return 2
    return 0


def remove_dot_segments(path: bytes) -> tuple[bytes, int]:
    """``path`` (which starts with ``/``) without dot segments, and how high a ``..`` climbed.

    The second value is the fewest segments left right after a ``..`` removed one: a ``..``
    that climbed into the first ``k`` segments leaves fewer than ``k``. ``NO_CLIMB`` when no
    ``..`` removed anything, ``ABOVE_ROOT`` (and the path unchanged) when one had nothing left to
    remove. A trailing ``.`` or ``..`` leaves a trailing ``/``, as in RFC 3986.
    """
    segments = path[1:].split(b"/")
    kept: list[bytes] = []
    floor = NO_CLIMB
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        kind = dots(segment)
        if not kind:
            kept.append(segment)
            continue
        if kind == 2:
            if not kept:
                return path, ABOVE_ROOT
            kept.pop()
            if len(kept) < floor:
                floor = len(kept)
        if index == last:
            kept.append(b"")
    return b"/" + b"/".join(kept), floor
