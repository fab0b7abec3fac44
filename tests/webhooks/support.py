"""What the webhook tests share: settings for a test bed, dispatching until something holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tollway.config import WebhookSettings
from tollway.runtime import Runtime
from tollway.webhooks.dispatch import dispatch_due


def webhook_settings(runtime: Runtime, **values: Any) -> WebhookSettings:
    """Change ``[webhooks]`` of this runtime (the control plane reads it per request)."""
    changed = runtime.settings.webhooks.model_copy(update=values)
    runtime.settings = runtime.settings.model_copy(update={"webhooks": changed})
    return changed


def dispatch_until(runtime: Runtime, check: Callable[[], bool], limit: float = 15.0) -> None:
    """Run the dispatcher, as the scheduler does each ``dispatch_interval``, until ``check()``."""
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "the deliveries did not happen in time"
        dispatch_due(runtime.session_factory, runtime.secrets, runtime.settings.webhooks)
        time.sleep(0.05)


def dispatch_for(runtime: Runtime, seconds: float) -> None:
    """Keep dispatching for a while (to show that nothing more is sent)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dispatch_due(runtime.session_factory, runtime.secrets, runtime.settings.webhooks)
        time.sleep(0.05)
