from tests.auth.flows import http

__all__ = ["http"]
