from tests.support.monetized_gateway import bed
from tests.support.rest import admin, http, identity, publisher, subscriber

__all__ = ["admin", "bed", "http", "identity", "publisher", "subscriber"]
