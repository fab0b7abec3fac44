"""Billing engines that ship with Tollway: the built-in ledger (default) and Stripe.

Each implements :class:`tollway.monetization.engine.BillingEngine`; core code never imports an
engine directly, it loads the configured one through :mod:`tollway.monetization.registry`.
"""
