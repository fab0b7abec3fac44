"""The spool keeps events through a crash; the next gateway replays them once."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent
from tollway.metering.spool import Spool, decode, encode, recover
from tollway.models.usage import UsageEvent as UsageEventRow
from tollway.runtime import Runtime


def event(n: int, tier: str | None = "Gold", sub: str | None = "sub") -> UsageEvent:
    return UsageEvent(
        id=f"id-{n:06d}",
        time=1_780_000_000.123456 + n,
        tenant_id="tenant",
        api_id="api" if sub else None,
        application_id="app" if sub else None,
        subscription_id=sub,
        tier=tier,
        status=200 if n % 2 else 503,
        billable=bool(n % 2),
        latency_us=n,
        request_bytes=10 * n,
        response_bytes=20 * n,
    )


def stored(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(UsageEventRow)) or 0)


def test_a_line_decodes_to_the_event_it_encodes() -> None:
    for original in (event(1), event(2, tier=None, sub=None)):
        line = encode(original)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert decode(line[:-1]) == original
    tabbed = decode(encode(event(3, tier="Has\ttab"))[:-1])
    assert tabbed is not None and tabbed.tier == "Has tab"  # a tab would break the line format
    assert decode(b"torn\tline") is None


def test_segments_of_a_dead_process_are_replayed_once_and_removed(runtime: Runtime, tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    dead = Spool(directory)
    dead.open()
    for n in range(1, 2501):
        dead.append(n, encode(event(n)))
    dead.close(everything_stored=False)  # what a killed process leaves: unlocked segments
    (segment,) = directory.glob("*.spool")
    with segment.open("ab") as handle:
        handle.write(encode(event(9999))[:25])  # the write a crash tore in half

    sink = DatabaseSink(runtime.engine)
    sink.write([event(n) for n in range(1, 1001)])  # these had reached the database already
    assert recover(directory, sink, batch_size=700) == 1500
    assert stored(runtime) == 2500
    assert not list(directory.iterdir())
    assert recover(directory, sink) == 0


def test_a_live_process_keeps_its_segment(runtime: Runtime, tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    live = Spool(directory)
    live.open()
    live.append(1, encode(event(1)))
    assert recover(directory, DatabaseSink(runtime.engine)) == 0
    assert stored(runtime) == 0
    (segment,) = directory.glob("*.spool")
    fd = os.open(segment, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    live.close(everything_stored=True)
    assert not list(directory.iterdir())


def test_stored_segments_are_deleted_as_the_spool_rotates(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1000)
    spool.open()
    for n in range(1, 21):
        spool.append(n, encode(event(n)))
        spool.stored(n - 5)  # the database lags five events behind
    segments = sorted(tmp_path.glob("*.spool"))
    assert 1 <= len(segments) <= 3  # old segments went once everything in them was stored
    spool.stored(20)
    spool.close(everything_stored=True)
    assert not list(tmp_path.iterdir())
