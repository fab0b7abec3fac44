"""Usage metering: events from the gateway, durable idempotent storage, hourly rollups."""

from tollway.metering.events import UsageEvent, UsageSink

__all__ = ["UsageEvent", "UsageSink"]
