from tests.monetization.conftest import world
from tests.support.rest import admin, http, identity, publisher, subscriber

__all__ = ["admin", "http", "identity", "publisher", "subscriber", "world"]
