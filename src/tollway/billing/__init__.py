"""Billing engines that ship with Tollway: the built-in ledger (default) and Stripe.

Each implements :class:`tollway.billing.contract.BillingEngine`; core code never imports an
engine directly, it loads the configured one through :mod:`tollway.billing.registry`.
"""
