"""Subscriptions: an application's use of an API under one business plan."""
