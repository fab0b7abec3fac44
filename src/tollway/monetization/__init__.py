"""Monetization: billing-engine interface and registry, pricing, usage publishing, invoices."""
