"""Project-owned fakes of external services, each sitting at the HTTP boundary.

A fake here replaces only a third-party service (never Tollway's own code) and speaks that
service's real wire contract, so the official client library runs for real against it.
"""
