"""Request dependencies every REST endpoint shares: the transaction, the runtime, the hooks.

The session is function-scoped: FastAPI runs the exit code of request-scoped ``yield``
dependencies only after the response has been sent, which would let a client see 201 before the
row is committed (and never learn of a failed commit). Function scope commits before answering.
The caller (``requires``) is resolved by :mod:`tollway.identity.principal`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tollway.billing.hooks import MonetizationHooks
from tollway.db.session import transaction
from tollway.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(request: Request) -> Iterator[Session]:
    """One request = one transaction: committed when the endpoint returns, rolled back on error."""
    with transaction(get_runtime(request).session_factory) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]
CurrentRuntime = Annotated[Runtime, Depends(get_runtime)]


def get_hooks(runtime: CurrentRuntime) -> MonetizationHooks:
    return runtime.hooks


Hooks = Annotated[MonetizationHooks, Depends(get_hooks)]
