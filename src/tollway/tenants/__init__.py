"""Tenants: creation with their admin, deactivation, and each tenant's settings document."""
