"""Usage publishing: each monetized subscription's billable usage, sent to its billing engine once
per window (jobs, locks, late usage, the ``tollway publish-usage`` command)."""
