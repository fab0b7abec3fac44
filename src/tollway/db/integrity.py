"""Turn a lost uniqueness race into a 409 instead of a 500."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tollway.errors import Conflict


def flush_or_conflict(session: Session, description: str) -> None:
    """Flush; a constraint violation (a concurrent request won the race) becomes 409.

    The session is unusable afterwards; the request's transaction is rolled back by the error.
    """
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(description) from None
