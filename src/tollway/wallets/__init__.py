"""Prepaid wallets: append-only entries, grants and top-ups, settling prepaid usage (docs/prepaid.md)."""
