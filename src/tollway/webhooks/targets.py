"""Where a subscriber's webhook may point: not at Tollway's own network unless the operator allows it.

A subscriber registering http://127.0.0.1:5432/ or a cloud metadata address would otherwise make
Tollway send requests inside its network for them. Checked at registration and again before each
delivery (a name may resolve elsewhere later).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def is_internal(host: str) -> bool:
    """Whether ``host`` (a name or an address) is or resolves to a non-public address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False  # does not resolve: the delivery fails on its own
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            return True
    return False


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""
