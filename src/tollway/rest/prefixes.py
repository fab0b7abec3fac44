"""Where the three WSO2-shaped REST APIs live."""

from __future__ import annotations

ADMIN = "/api/am/admin/v1"
PUBLISHER = "/api/am/publisher/v1"
STORE = "/api/am/store/v1"
