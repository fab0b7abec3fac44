"""The built-in ledger engine: plans, customers, subscriptions and usage in Tollway's database."""
