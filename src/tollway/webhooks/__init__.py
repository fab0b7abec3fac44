"""Outgoing webhooks: endpoints, signed deliveries from the outbox (tollway.events), their log."""
