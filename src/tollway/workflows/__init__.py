"""Approval workflows: pending requests listed and decided by a tenant's admins (WSO2's admin /workflows)."""
