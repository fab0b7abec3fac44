"""A stateful fake of the Stripe HTTP API for tests, driven by the official ``stripe`` SDK.

See ``README.md`` beside this file. In short::

    from tests.fakes.stripe_fake import StripeFake

    with StripeFake() as fake:
        fake.add_platform_account("sk_test_platform")
        client = fake.client("sk_test_platform")
"""

from .app import RecordedRequest
from .errors import StripeError
from .server import StripeFake

__all__ = ["RecordedRequest", "StripeError", "StripeFake"]
