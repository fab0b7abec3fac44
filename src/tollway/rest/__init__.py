"""Shared pieces of the three WSO2-shaped REST APIs (admin, publisher, developer portal)."""
