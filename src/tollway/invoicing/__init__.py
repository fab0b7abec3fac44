"""Invoices and revenue read from the billing engines, and their finalization (maintenance)."""
