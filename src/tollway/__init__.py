"""Tollway: API management and API monetization."""

__version__ = "0.1.0"
