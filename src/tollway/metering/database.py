"""The embedded sink: usage events into ``usage_events`` and hourly ``usage_rollups``.

One transaction per batch. Only events whose id is not stored yet are inserted and added to the
rollups, so a batch written twice (a retry after a lost commit acknowledgement, a spool replay
after a crash) is counted once, and two writers racing on the same ids cannot both count them.
How "not stored yet" is decided depends on the database:

* PostgreSQL (psycopg): optimistic, like SQLite. Inside a savepoint the batch, sorted by
  subscription (each subscription's entries go into the ``(subscription_id, time)`` index one
  after another, on the same leaf page), goes straight into ``usage_events`` with binary
  ``COPY``: it stores a page of rows at a time, where ``INSERT ... SELECT`` stores one row at a
  time (about twice the server's time per event). The rollups, added up here, follow as one JSON
  parameter (``json.dumps`` is C; psycopg adapts Python lists element by element in Python).
  A stored id fails the COPY with a unique violation; an id another writer is inserting makes it
  wait for that writer's commit, then fail (or succeed, if that writer rolled back). Then the
  savepoint is rolled back and the batch goes through one statement: the rows as one JSON
  parameter, ``ON CONFLICT DO NOTHING RETURNING``, and the rollups upserted from exactly the
  returned rows. The unique index decides which racing insert wins on both paths.
  ``usage_rollups`` keeps half of each page free (migration 0003) so the per-batch count updates
  are HOT updates. bench/pipeline.py measures this path; bench/results/pipeline-2026-12-05.md
  says what limits it (the server's index inserts).
* SQLite: ``BEGIN IMMEDIATE`` takes the database's single write lock first; the batch goes in
  with a plain ``INSERT`` (``executemany``, one compiled single-row statement: measured twice as
  fast as multi-row ``VALUES ... RETURNING``) inside a savepoint. A stored id fails it: the
  savepoint is rolled back, a ``SELECT`` finds the stored ids (true until commit, under the
  lock) and only the others go in. The rollups are added for exactly the events inserted.
* MariaDB: ``INSERT IGNORE ... RETURNING id`` in statements of 500 rows, rollups aggregated here.

This runs for every request the gateway serves, so it speaks to the driver directly with
parameters already in the driver's types (SQLAlchemy's per-row processing cost as much CPU as
proxying the request). Times are stored exactly as ``db.types.UTCDateTime`` stores them, so ORM
reads agree.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Boolean, Engine, Integer, SmallInteger, String
from sqlalchemy.engine import Connection

from tollway.db.types import UTCDateTime
from tollway.metering.events import FIELDS, Kind, UsageEvent, generated
from tollway.models.usage import UsageEventRow

# The usage_events columns, in the event's field order (tests/metering/test_event_fields.py
# checks the ORM table in tollway.models.usage against them).
EVENT_COLUMNS = tuple(f.column for f in FIELDS)
ROLLUP_COLUMNS = (
    "subscription_id",
    "hour",
    "tenant_id",
    "api_id",
    "application_id",
    "billable_count",
    "total_count",
)
# MariaDB: 500 rows x 12 parameters stays under its limit of 65535 (SQLite's IN lists too).
ROWS_PER_STATEMENT = 500
MICROS_PER_HOUR = 3_600_000_000
EPOCH = datetime(1970, 1, 1)
MAX_LATENCY_US = 2**31 - 1
# SQLite, per connection the sink writes through. Each batch inserts into the
# (subscription_id, time) index at one place per subscription, so a commit dirties about one
# index page per event: a page cache holding that index and a WAL checkpointed every ~40 MB
# instead of every 4 MB (after nearly every batch) more than double the events written per second.
SQLITE_PRAGMAS = ("PRAGMA cache_size = -32768", "PRAGMA wal_autocheckpoint = 10000")
_TUNED = "tollway.metering.sink_tuned"

Writer = Callable[[Connection, Sequence[UsageEvent]], int]


def micros(epoch_seconds: float) -> int:
    """Integer microseconds since the epoch: the one value both the row and its hour derive from."""
    return round(epoch_seconds * 1_000_000)


class _SqliteTime:
    """SQLite keeps datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text (SQLAlchemy's format)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, us: int) -> str:
        seconds, fraction = divmod(us, 1_000_000)
        if seconds != self._second:  # events of one batch share their second: format it once
            self._second = seconds
            self._prefix = (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S.")
        return f"{self._prefix}{fraction:06d}"


def _naive_utc(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


# Columns narrower than the field's values: the value is limited to what the column holds.
_LIMITS = {"latency_us": "MAX_LATENCY_US"}


def _event_row_source() -> str:
    times = [f for f in FIELDS if f.kind == "time"]
    if len(times) != 1 or not set(_LIMITS) <= set(EVENT_COLUMNS):
        raise TypeError("the database sink expects one time field and the columns named in _LIMITS")
    values = []
    for f in FIELDS:
        value = "at" if f.kind == "time" else f"e.{f.name}"
        limit = _LIMITS.get(f.column)
        values.append(f"min({value}, {limit})" if limit else value)
    return f"def event_row(e, at):\n    return ({', '.join(values)})\n"


# The values of EVENT_COLUMNS for one event, its time (``at``) already in the driver's type.
# Generated from FIELDS once at import: it runs for every event stored.
_event_row: Callable[[UsageEvent, Any], tuple[Any, ...]] = generated(
    "event_row", _event_row_source(), {"MAX_LATENCY_US": MAX_LATENCY_US}
)


def _distinct_ids(events: Sequence[UsageEvent]) -> Sequence[UsageEvent]:
    """The first event of each id: an id repeated inside one batch is one event, counted once."""
    if len({event.id for event in events}) == len(events):
        return events
    first: dict[str, UsageEvent] = {}
    for event in events:
        first.setdefault(event.id, event)
    return list(first.values())


def _rollup_rows(
    events: Sequence[UsageEvent], stamps: Sequence[int], to_time: Callable[[int], Any]
) -> list[tuple[Any, ...]]:
    """Per (subscription, hour) counts of ``events``, sorted by key (a stable lock order)."""
    buckets: dict[tuple[str, int], list[Any]] = {}
    for event, us in zip(events, stamps, strict=True):
        if event.subscription_id is None:
            continue  # refused before a subscription was known: kept raw, not rolled up
        key = (event.subscription_id, us - us % MICROS_PER_HOUR)
        counts = buckets.get(key)
        if counts is None:
            counts = buckets[key] = [0, 0, event]
        counts[1] += 1
        if event.billable:
            counts[0] += 1
    hours: dict[int, Any] = {}  # a batch spans an hour or two: each formatted once
    rows = []
    for key in sorted(buckets):
        billable, total, first = buckets[key]
        hour = hours.get(key[1])
        if hour is None:
            hour = hours[key[1]] = to_time(key[1])
        rows.append(
            (key[0], hour, first.tenant_id, first.api_id or "", first.application_id or "", billable, total)
        )
    return rows


class DatabaseSink:
    """Writes batches idempotently; safe to share between threads (one transaction per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        quote = engine.dialect.identifier_preparer.quote
        self._write: Writer
        if dialect == "postgresql":
            self._write = _PostgresWriter(quote, copy=engine.dialect.driver == "psycopg")
        elif dialect == "sqlite":
            self._write = _SqliteWriter(quote)
        else:
            self._write = _MysqlWriter(quote)

    def write(self, events: Sequence[UsageEvent]) -> int:
        if not events:
            return 0
        events = _distinct_ids(events)
        with self.engine.begin() as conn:
            return self._write(conn, events)

    def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""


_PG_CASTS: dict[Kind, str] = {
    "text": "",
    "optional text": "",
    "int": "::bigint",
    "bool": "::boolean",
    "time": "::bigint",
}


def _subscription_order(event: UsageEvent) -> str:
    return event.subscription_id or ""


def _copy_types() -> list[str]:
    """The PostgreSQL type of each of EVENT_COLUMNS, as binary COPY must send it."""
    names = []
    for column in EVENT_COLUMNS:
        kind = UsageEventRow.__table__.c[column].type
        # BigInteger and SmallInteger are Integers: the narrower checks first.
        for sa_type, name in (
            (BigInteger, "int8"),
            (SmallInteger, "int2"),
            (Integer, "int4"),
            (Boolean, "bool"),
            (UTCDateTime, "timestamp"),
            (String, "text"),
        ):
            if isinstance(kind, sa_type):
                names.append(name)
                break
        else:
            raise TypeError(f"usage_events.{column}: no binary COPY type for {kind!r}")
    return names


class _PostgresWriter:
    def __init__(self, quote: Callable[[str], str], copy: bool = True) -> None:
        events, rollups = quote("usage_events"), quote("usage_rollups")
        billable, total = quote("billable_count"), quote("total_count")
        self._use_copy = copy
        self._copy = (
            f"COPY {events} ({', '.join(quote(c) for c in EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        )
        self._copy_types = _copy_types()
        # The rollups of a batch COPY stored whole: one JSON parameter, hours as microseconds.
        self._rollup_sql = f"""
INSERT INTO {rollups} ({", ".join(quote(c) for c in ROLLUP_COLUMNS)})
SELECT r->>0, timestamp '1970-01-01' + (r->>1)::bigint * interval '1 microsecond', r->>2, r->>3, r->>4,
       (r->>5)::bigint, (r->>6)::bigint
FROM jsonb_array_elements(%s::jsonb) AS r
ON CONFLICT ({quote("subscription_id")}, {quote("hour")}) DO UPDATE SET
    {billable} = {rollups}.{billable} + excluded.{billable},
    {total} = {rollups}.{total} + excluded.{total}"""
        # Each row a JSON array (_event_row's values); times as integer microseconds, so the
        # stored value is exact. Integers are read as bigint: the INSERT narrows them to their
        # column's type (an assignment cast).
        unpack: list[str] = []
        insert: list[str] = []
        for i, f in enumerate(FIELDS):
            cast = _PG_CASTS[f.kind]
            unpack.append(
                f"(r->>{i}){cast} AS {quote(f.column)}" if cast else f"r->>{i} AS {quote(f.column)}"
            )
            if f.kind == "time":
                insert.append(f"timestamp '1970-01-01' + {quote(f.column)} * interval '1 microsecond'")
            else:
                insert.append(quote(f.column))
        self._sql = f"""
WITH batch AS (
    SELECT {", ".join(unpack)}
    FROM jsonb_array_elements(%s::jsonb) AS r
), new AS (
    INSERT INTO {events} ({", ".join(quote(c) for c in EVENT_COLUMNS)})
    SELECT {", ".join(insert)}
    FROM batch
    ON CONFLICT ({quote("id")}) DO NOTHING
    RETURNING {quote("subscription_id")} AS sub, {quote("time")} AS at, {quote("tenant_id")} AS tenant,
              {quote("api_id")} AS api, {quote("application_id")} AS app, {quote("billable")} AS paid
), rolled AS (
    INSERT INTO {rollups} ({", ".join(quote(c) for c in ROLLUP_COLUMNS)})
    SELECT sub, date_trunc('hour', at), min(tenant), coalesce(min(api), ''), coalesce(min(app), ''),
           count(*) FILTER (WHERE paid), count(*)
    FROM new WHERE sub IS NOT NULL
    GROUP BY sub, date_trunc('hour', at)
    ORDER BY 1, 2
    ON CONFLICT ({quote("subscription_id")}, {quote("hour")}) DO UPDATE SET
        {billable} = {rollups}.{billable} + excluded.{billable},
        {total} = {rollups}.{total} + excluded.{total}
)
SELECT count(*) FROM new"""

    def __call__(self, conn: Connection, events: Sequence[UsageEvent]) -> int:
        cursor = conn.connection.cursor()  # the driver's cursor: no per-row result processing
        try:
            if self._use_copy:
                stored = self._copy_whole(cursor, events)
                if stored is not None:
                    return stored
            batch = json.dumps(
                [_event_row(e, micros(e.time)) for e in events],
                separators=(",", ":"),
            )
            cursor.execute(self._sql, (batch,))
            row = cursor.fetchone()
            return int(row[0]) if row else 0
        finally:
            cursor.close()

    def _copy_whole(self, cursor: Any, events: Sequence[UsageEvent]) -> int | None:
        """Optimistic: COPY the whole batch into usage_events, None when an id was stored already.

        A batch is nearly always new. COPY inserts a page of rows at a time (``INSERT ... SELECT``
        one row at a time, twice the server's time per event); a stored id, or one another writer
        is inserting right now (COPY waits for its commit), fails it with a unique violation: the
        savepoint is rolled back and the caller runs the ON CONFLICT statement instead.
        """
        events = sorted(events, key=_subscription_order)
        stamps = [micros(e.time) for e in events]
        cursor.execute("SAVEPOINT fresh")
        try:
            with cursor.copy(self._copy) as copy:
                copy.set_types(self._copy_types)
                write_row = copy.write_row
                for e, us in zip(events, stamps, strict=True):
                    write_row(_event_row(e, EPOCH + timedelta(microseconds=us)))
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            cursor.execute("ROLLBACK TO SAVEPOINT fresh")
            cursor.execute("RELEASE SAVEPOINT fresh")
            return None
        cursor.execute("RELEASE SAVEPOINT fresh")
        rows = _rollup_rows(events, stamps, int)
        if rows:
            cursor.execute(self._rollup_sql, (json.dumps(rows, separators=(",", ":")),))
        return len(events)


class _SqliteWriter:
    def __init__(self, quote: Callable[[str], str]) -> None:
        events, rollups = quote("usage_events"), quote("usage_rollups")
        billable, total = quote("billable_count"), quote("total_count")
        self._stored = f"SELECT {quote('id')} FROM {events} WHERE {quote('id')} IN "
        self._insert = (
            f"INSERT INTO {events} ({', '.join(quote(c) for c in EVENT_COLUMNS)})"
            f" VALUES ({', '.join(['?'] * len(EVENT_COLUMNS))})"
        )
        self._upsert = (
            f"INSERT INTO {rollups} ({', '.join(quote(c) for c in ROLLUP_COLUMNS)})"
            f" VALUES ({', '.join(['?'] * len(ROLLUP_COLUMNS))})"
            f" ON CONFLICT ({quote('subscription_id')}, {quote('hour')}) DO UPDATE SET"
            f" {billable} = {rollups}.{billable} + excluded.{billable},"
            f" {total} = {rollups}.{total} + excluded.{total}"
        )

    def __call__(self, conn: Connection, events: Sequence[UsageEvent]) -> int:
        pooled = conn.connection
        raw: Any = pooled.driver_connection
        if not pooled.info.get(_TUNED):
            for pragma in SQLITE_PRAGMAS:
                raw.execute(pragma)
            pooled.info[_TUNED] = True
        if not raw.in_transaction:
            # The write lock first: no other writer can store these ids until commit.
            raw.execute("BEGIN IMMEDIATE")
        to_time = _SqliteTime()
        stamps = [micros(e.time) for e in events]
        # Optimistic: a batch is nearly always new, so it goes in without looking for its ids
        # first; a stored id fails the plain INSERT, and only then are the stored ones looked up.
        raw.execute("SAVEPOINT fresh")
        try:
            raw.executemany(
                self._insert, [_event_row(e, to_time(us)) for e, us in zip(events, stamps, strict=True)]
            )
        except sqlite3.IntegrityError:
            raw.execute("ROLLBACK TO fresh")
            raw.execute("RELEASE fresh")
            events, stamps = self._unstored(raw, events, stamps)
            if not events:
                return 0
            raw.executemany(
                self._insert, [_event_row(e, to_time(us)) for e, us in zip(events, stamps, strict=True)]
            )
        else:
            raw.execute("RELEASE fresh")
        raw.executemany(self._upsert, _rollup_rows(events, stamps, to_time))
        return len(events)

    def _unstored(
        self, raw: Any, events: Sequence[UsageEvent], stamps: list[int]
    ) -> tuple[list[UsageEvent], list[int]]:
        """The events (and their stamps) whose id is not stored yet; the write lock keeps it true."""
        stored: set[str] = set()
        for start in range(0, len(events), ROWS_PER_STATEMENT):
            ids = [e.id for e in events[start : start + ROWS_PER_STATEMENT]]
            sql = self._stored + "(" + ", ".join(["?"] * len(ids)) + ")"
            stored.update(row[0] for row in raw.execute(sql, ids))
        kept = [(e, us) for e, us in zip(events, stamps, strict=True) if e.id not in stored]
        return [e for e, _ in kept], [us for _, us in kept]


class _MysqlWriter:
    def __init__(self, quote: Callable[[str], str]) -> None:
        events, rollups = quote("usage_events"), quote("usage_rollups")
        billable, total = quote("billable_count"), quote("total_count")
        self._event_row = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
        self._rollup_row = "(" + ", ".join(["%s"] * len(ROLLUP_COLUMNS)) + ")"
        self._insert_head = (
            f"INSERT IGNORE INTO {events} ({', '.join(quote(c) for c in EVENT_COLUMNS)}) VALUES "
        )
        self._insert_tail = f" RETURNING {quote('id')}"
        self._rollup_head = f"INSERT INTO {rollups} ({', '.join(quote(c) for c in ROLLUP_COLUMNS)}) VALUES "
        self._rollup_tail = (
            f" ON DUPLICATE KEY UPDATE {billable} = {billable} + VALUES({billable}),"
            f" {total} = {total} + VALUES({total})"
        )

    def __call__(self, conn: Connection, events: Sequence[UsageEvent]) -> int:
        cursor = conn.connection.cursor()
        try:
            fresh: set[str] = set()
            for start in range(0, len(events), ROWS_PER_STATEMENT):
                chunk = events[start : start + ROWS_PER_STATEMENT]
                params: list[Any] = []
                for e in chunk:
                    params += _event_row(e, _naive_utc(micros(e.time)))
                sql = self._insert_head + ", ".join([self._event_row] * len(chunk)) + self._insert_tail
                cursor.execute(sql, params)
                fresh.update(row[0] for row in cursor.fetchall())
            new = [e for e in events if e.id in fresh]
            rows = _rollup_rows(new, [micros(e.time) for e in new], _naive_utc)
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                chunk_rows = rows[start : start + ROWS_PER_STATEMENT]
                sql = self._rollup_head + ", ".join([self._rollup_row] * len(chunk_rows)) + self._rollup_tail
                cursor.execute(sql, [value for row in chunk_rows for value in row])
            return len(fresh)
        finally:
            cursor.close()
