"""The data plane: authenticate, enforce plans, proxy and meter every call."""
