from tests.support.rest import admin, http, identity, publisher, subscriber

__all__ = ["admin", "http", "identity", "publisher", "subscriber"]
