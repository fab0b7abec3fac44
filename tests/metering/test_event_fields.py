"""The usage event's fields are defined once (``UsageEvent``, read into ``FIELDS``); what is not
generated from them is checked against them here: a field added, renamed, retyped or reordered in
one place and not the others fails one of these tests."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tollway.metering import database
from tollway.metering.database import DatabaseSink
from tollway.metering.events import FIELDS, Kind, UsageEvent
from tollway.metering.progress import StoreProgress
from tollway.metering.recorder import UsageRecorder
from tollway.metering.spool import SEALED, Spool, decode, decode_lines, encode
from tollway.models.usage import UsageEventRow
from tollway.runtime import Runtime

AT_US = 1_780_000_000_123_456
# The Python type of each kind's column, and of each kind's UsageRecorder.record argument.
COLUMN_TYPES: dict[Kind, type] = {
    "text": str,
    "optional text": str,
    "int": int,
    "bool": bool,
    "time": datetime,
}
RECORD_TYPES: dict[Kind, str] = {
    "text": "str",
    "optional text": "str | None",
    "int": "int",
    "bool": "bool",
    "time": "int",  # integer microseconds, as the spool line has it
}


def sample(**changes: Any) -> UsageEvent:
    """An event whose every field has a value of its own (so a swap of two fields shows)."""
    values: dict[str, Any] = {}
    for n, f in enumerate(FIELDS):
        if f.kind in ("text", "optional text"):
            values[f.name] = f"{f.name}-{n}"
        elif f.kind == "int":
            values[f.name] = 100 + n
        elif f.kind == "bool":
            values[f.name] = True
        else:
            values[f.name] = AT_US / 1_000_000
    values.update(changes)
    return UsageEvent(**values)


def variants() -> list[UsageEvent]:
    """The sample, then every optional field empty and every flag false."""
    empty = {f.name: None for f in FIELDS if f.kind == "optional text"}
    false = {f.name: False for f in FIELDS if f.kind == "bool"}
    return [sample(), sample(id="other", **empty, **false)]


def test_the_database_columns_are_derived_from_the_fields() -> None:
    assert tuple(f.column for f in FIELDS) == database.EVENT_COLUMNS
    assert [f.name for f in FIELDS] == [f.name for f in dataclasses.fields(UsageEvent)]
    assert {f.name: f.column for f in FIELDS if f.name != f.column} == {"status": "status_code"}


def test_the_orm_table_has_the_fields_columns() -> None:
    columns = UsageEventRow.__table__.columns
    assert [c.name for c in columns] == list(database.EVENT_COLUMNS)
    for f in FIELDS:
        column = columns[f.column]
        assert column.nullable == (f.kind == "optional text"), f.column
        stored_as = getattr(column.type, "impl", column.type)  # a TypeDecorator's underlying type
        assert stored_as.python_type is COLUMN_TYPES[f.kind], f.column


def test_every_field_survives_the_spool_line() -> None:
    for original in variants():
        line = encode(original)
        assert line.endswith(b"\n") and line.count(b"\n") == 1 and line.count(b"\t") == len(FIELDS) - 1
        assert decode(line[:-1]) == original


def test_the_spool_line_format_is_unchanged() -> None:
    # Byte for byte: segments already spooled must still parse, so reordering or retyping the
    # fields changes the format and needs a compatible parser first.
    event = UsageEvent(
        id="0123456789abcdef-000000000001",
        time=AT_US / 1_000_000,
        tenant_id="tenant",
        api_id="api",
        application_id=None,
        subscription_id="sub",
        tier="Gold\tplan",
        status=503,
        billable=False,
        latency_us=1500,
        request_bytes=100,
        response_bytes=2000,
    )
    line = (
        b"0123456789abcdef-000000000001\t1780000000123456\ttenant\tapi\t\tsub\t"
        b"Gold plan\t503\t0\t1500\t100\t2000\n"
    )
    assert encode(event) == line
    assert decode(line[:-1]) == dataclasses.replace(event, tier="Gold plan")


def test_the_recorder_takes_the_fields_by_name_in_their_order() -> None:
    parameters = list(inspect.signature(UsageRecorder.record).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in FIELDS if f.name != "id"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    kinds = {f.name: f.kind for f in FIELDS}
    assert {p.name: p.annotation for p in parameters} == {
        p.name: RECORD_TYPES[kinds[p.name]] for p in parameters
    }


def test_what_the_recorder_spools_parses_to_the_same_event(tmp_path: Path) -> None:
    async def spool_them() -> None:
        recorder = UsageRecorder(Spool(tmp_path), StoreProgress(1))
        recorder.spool.open()
        for event in variants():
            values = {f.name: getattr(event, f.name) for f in FIELDS if f.name != "id"}
            recorder.record(**values | {"time": round(event.time * 1_000_000)})
        await asyncio.sleep(0)  # the spool is written once per event-loop iteration
        assert recorder.close()

    asyncio.run(spool_them())
    (segment,) = tmp_path.glob(f"*{SEALED}")
    decoded = decode_lines(segment.read_bytes())
    assert len(decoded) == 2 and None not in decoded
    for got, want in zip(decoded, variants(), strict=True):
        assert got is not None
        assert got == dataclasses.replace(want, id=got.id)


def test_every_field_is_stored_in_its_column(runtime: Runtime) -> None:
    events = variants()
    assert DatabaseSink(runtime.engine).write(events) == len(events)
    with runtime.session_factory() as session:
        for event in events:
            row = session.get(UsageEventRow, event.id)
            assert row is not None
            for f in FIELDS:
                want = getattr(event, f.name)
                if f.kind == "time":
                    want = datetime.fromtimestamp(want, UTC)
                assert getattr(row, f.column) == want, f.column
