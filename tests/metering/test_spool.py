"""The spool keeps events through a crash; the spool writer stores every event once and cleans up."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent
from tollway.metering.priority import WriterPriority
from tollway.metering.progress import StoreProgress
from tollway.metering.spool import Spool, decode, encode
from tollway.metering.writer import SpoolWriter, drain
from tollway.models.usage import UsageEventRow
from tollway.runtime import Runtime


def event(n: int, tier: str | None = "Gold", sub: str | None = "sub") -> UsageEvent:
    return UsageEvent(
        id=f"0123456789abcdef-{n:012x}",
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


class FailingSink:
    """The database refusing every batch (what a failing DatabaseSink raises)."""

    def __init__(self) -> None:
        self.calls = 0

    def write(self, events: Sequence[UsageEvent]) -> int:
        self.calls += 1
        raise ConnectionError("database unreachable")

    def close(self) -> None:
        pass


def killed_writer(directory: Path, first: int, last: int, torn: bool) -> None:
    """A gateway process that spools events ``first..last`` and is killed (SIGKILL)."""
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from tests.metering.test_spool import event\n"
        "from tollway.metering.spool import Spool, encode\n"
        f"spool = Spool(Path({str(directory)!r}))\n"
        "spool.open()\n"
        f"for n in range({first}, {last + 1}):\n"
        "    spool.append(encode(event(n)))\n"
        f"if {torn}:\n"
        "    os.write(spool._current.fd, encode(event(999999))[:25])  # a write torn by the kill\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], check=False)
    assert proc.returncode == -signal.SIGKILL


def test_a_line_decodes_to_the_event_it_encodes() -> None:
    for original in (event(1), event(2, tier=None, sub=None)):
        line = encode(original)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert decode(line[:-1]) == original
    tabbed = decode(encode(event(3, tier="Has\ttab"))[:-1])
    assert tabbed is not None and tabbed.tier == "Has tab"  # a tab would break the line format
    assert decode(b"torn\tline") is None
    # Spools written by earlier versions carry the time as float seconds.
    older = decode(b"old-1\t1780000000.25\ttenant\tapi\tapp\tsub\tGold\t200\t1\t5\t6\t7")
    assert older is not None and older.time == 1780000000.25 and older.billable


def test_a_killed_process_spool_is_stored_once_and_removed(
    runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "spool"
    killed_writer(directory, 1, 2500, torn=True)
    assert len(list(directory.glob("*.spool"))) == 1  # not sealed: its process died with it open

    sink = DatabaseSink(runtime.engine)
    sink.write([event(n) for n in range(1, 1001)])  # these had reached the database already
    writer = SpoolWriter(directory, sink, batch_size=700)
    with caplog.at_level(logging.WARNING, "tollway.metering.writer"):
        assert writer.write_pass() == 2500  # the torn line is dropped: its answer never left
    assert (writer.stored, writer.new) == (2500, 1500)
    assert stored(runtime) == 2500
    assert not list(directory.iterdir())
    assert "stored 2500 usage events left by a gateway that stopped abruptly" in caplog.text
    assert writer.write_pass() == 0


def test_a_live_segment_is_stored_as_it_grows_and_deleted_once_sealed(
    runtime: Runtime, tmp_path: Path
) -> None:
    directory = tmp_path / "spool"
    progress = StoreProgress(1)
    progress.claim(0, os.getpid())
    live = Spool(directory)
    live.open()
    writer = SpoolWriter(directory, DatabaseSink(runtime.engine), progress=progress)
    live.append(b"".join(encode(event(n)) for n in range(1, 4)))
    live.append(encode(event(4))[:30])  # half a line: being written as the writer reads
    assert writer.write_pass() == 3
    assert progress.stored_seq(0) == 3
    (segment,) = directory.glob("*.spool")  # still locked by its process: kept
    fd = os.open(segment, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    live.append(encode(event(4))[30:] + encode(event(5)))
    live.close()
    assert [p.suffix for p in directory.iterdir()] == [".done"]
    assert writer.write_pass() == 2
    assert (stored(runtime), progress.stored_seq(0)) == (5, 5)
    assert not list(directory.iterdir())


def test_full_segments_are_sealed_and_read_in_order(runtime: Runtime, tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory, segment_bytes=1000)
    spool.open()
    for n in range(1, 41):
        spool.append(encode(event(n)))
    names = sorted(p.name for p in directory.iterdir())
    assert len(names) > 3 and all(name.endswith(".done") for name in names[:-1])
    assert names[-1].endswith(".spool")
    progress = StoreProgress(1)
    progress.claim(0, os.getpid())
    writer = SpoolWriter(directory, DatabaseSink(runtime.engine), batch_size=7, progress=progress)
    assert writer.write_pass() == 40
    assert progress.stored_seq(0) == 40  # the last event in the order the process wrote them
    assert [p.name for p in directory.iterdir()] == names[-1:]  # sealed ones stored and deleted
    spool.close()
    assert drain(writer, 5)
    assert stored(runtime) == 40 and not list(directory.iterdir())


def test_a_failing_database_loses_nothing_and_a_new_writer_counts_nothing_twice(
    runtime: Runtime, tmp_path: Path
) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory)
    spool.open()
    spool.append(b"".join(encode(event(n)) for n in range(1, 101)))
    failing = FailingSink()
    broken = SpoolWriter(directory, failing)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            broken.write_pass()
    assert failing.calls == 3 and stored(runtime) == 0

    sink = DatabaseSink(runtime.engine)
    first = SpoolWriter(directory, sink)
    assert first.write_pass() == 100 and first.new == 100
    first.close()  # a writer that stops (or dies) keeps its read positions in memory only
    spool.append(b"".join(encode(event(n)) for n in range(101, 151)))
    second = SpoolWriter(directory, sink)
    assert second.write_pass() == 150  # read again from the start...
    assert second.new == 50  # ...and only the new events counted
    assert stored(runtime) == 150
    spool.close()
    assert drain(second, 5) and not list(directory.iterdir())


def test_drain_gives_up_at_its_deadline_and_leaves_the_spool(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory)
    spool.open()
    spool.append(encode(event(1)))
    spool.close()
    began = time.monotonic()
    assert not drain(SpoolWriter(directory, FailingSink()), 0.5)
    assert time.monotonic() - began < 5
    assert len(list(directory.glob("*.done"))) == 1


def test_an_abandoned_temporary_segment_is_removed_and_a_fresh_one_kept(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    old, fresh = directory / "1-aa-000001.tmp", directory / "2-bb-000001.tmp"
    old.write_bytes(b"")
    fresh.write_bytes(b"")
    os.utime(old, (time.time() - 60, time.time() - 60))
    SpoolWriter(directory, FailingSink()).write_pass()
    assert not old.exists() and fresh.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")
def test_the_writer_reads_at_idle_priority_and_stores_at_normal_priority() -> None:
    seen: list[int] = []

    def run() -> None:  # in a thread of its own: the policy is per thread
        priority = WriterPriority(max_lag=3600)
        if not priority.enabled:
            seen.append(-1)
            return
        priority.background()
        seen.append(os.sched_getscheduler(0))
        priority.foreground()
        seen.append(os.sched_getscheduler(0))
        priority.note(caught_up=False)  # behind, but not for max_lag yet: still idle to read
        priority.background()
        seen.append(os.sched_getscheduler(0))
        priority.max_lag = 0  # behind for max_lag: reads at normal priority until caught up
        priority.background()
        seen.append(os.sched_getscheduler(0))
        priority.note(caught_up=True)
        priority.background()
        seen.append(os.sched_getscheduler(0))
        priority.foreground()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if seen == [-1] and not os.environ.get("CI"):  # CI runs as root: there it must work
        pytest.skip("this process may not return from SCHED_IDLE (not root, RLIMIT_NICE < 20)")
    idle, normal = os.SCHED_IDLE, os.SCHED_OTHER
    assert seen == [idle, normal, idle, normal, idle]
