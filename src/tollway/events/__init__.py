"""Events Tollway tells the outside world about (outgoing webhooks): the types and the outbox."""

from tollway.events.outbox import EVENT_TYPES, emit, status_changed

__all__ = ["EVENT_TYPES", "emit", "status_changed"]
