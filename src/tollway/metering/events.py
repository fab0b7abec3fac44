"""The usage event every gateway request produces, and the sink protocol that stores them.

:class:`UsageEvent` is the one definition of the event's fields. ``FIELDS`` is read from it at
import, and the code that handles an event field by field is generated from ``FIELDS`` once at
import (:func:`generated`): the spool line's encoder and parser (:mod:`tollway.metering.spool`)
and the database sink's columns and rows (:mod:`tollway.metering.database`). What must stay
typed by hand (``UsageRecorder.record``'s signature, the ``usage_events`` ORM table) is checked
against ``FIELDS`` by ``tests/metering/test_event_fields.py``.
"""

from __future__ import annotations

import linecache
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, NamedTuple, Protocol, TypeAlias

EpochSeconds: TypeAlias = float
"""Epoch seconds (UTC). On the spool: integer microseconds; in the database: a naive-UTC datetime."""

# Field metadata, for a field that is not plain:
COLUMN = "column"  # its ``usage_events`` column, where the name differs from the field's
FREE_TEXT = "free_text"  # text a user chose: may hold the spool line's tab and newline


@dataclass(slots=True)
class UsageEvent:
    """One request seen by the gateway.

    ``time`` is epoch seconds (UTC) when the answer completed; ``id`` is unique across
    processes and nodes (a random per-process prefix plus a counter), so a replayed event is
    recognised and stored once. ``billable`` is decided by the gateway from the backend's
    status (gateway refusals and backend errors are recorded, never billed).

    The field order is the spool line's and the ``usage_events`` columns' order.
    """

    id: str
    time: EpochSeconds
    tenant_id: str
    api_id: str | None
    application_id: str | None
    subscription_id: str | None
    tier: str | None = field(metadata={FREE_TEXT: True})  # the plan's name
    status: int = field(metadata={COLUMN: "status_code"})
    billable: bool
    latency_us: int
    request_bytes: int
    response_bytes: int


Kind = Literal["text", "optional text", "int", "bool", "time"]
# The annotations a field may have (as written: this module's annotations are strings). Another
# type needs its spool and database representation added where the kinds are handled.
_KINDS: dict[str, Kind] = {
    "str": "text",
    "str | None": "optional text",
    "int": "int",
    "bool": "bool",
    "EpochSeconds": "time",
}


class EventField(NamedTuple):
    name: str  # the UsageEvent attribute, and UsageRecorder.record's keyword
    kind: Kind
    column: str  # the usage_events column
    free_text: bool


def _fields() -> tuple[EventField, ...]:
    found = []
    for f in fields(UsageEvent):
        kind = _KINDS.get(str(f.type))
        if kind is None:
            raise TypeError(f"UsageEvent.{f.name}: no spool or database representation for {f.type}")
        found.append(
            EventField(f.name, kind, f.metadata.get(COLUMN, f.name), bool(f.metadata.get(FREE_TEXT)))
        )
    return tuple(found)


FIELDS = _fields()


def generated(name: str, source: str, namespace: dict[str, Any]) -> Any:
    """The function ``name`` defined by ``source``, code generated from ``FIELDS``.

    Generated once at import instead of looping over the fields per event: these run once per
    request (the encoder on the gateway's hot path) and must cost what hand-written code costs.
    The source is kept in ``linecache`` so tracebacks and debuggers show it.
    """
    filename = f"<tollway.metering generated {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own source, from FIELDS
    return namespace[name]


class SinkUnavailable(Exception):
    """The sink's store is away for now (an outage the operator sees, not a bug): the spool
    writer logs the message on one line, without a traceback, and tries again later."""


class UsageSink(Protocol):
    """Where batches of events go. Blocking; the recorder calls it from a worker thread.

    ``write`` must be idempotent by event id (a batch may be written again after a failure or
    a crash) and atomic (all of the batch or none of it). It returns how many events were new.
    It raises :class:`SinkUnavailable` while its store cannot be reached.
    """

    def write(self, events: Sequence[UsageEvent]) -> int: ...

    def close(self) -> None: ...
