"""The spool writer process's CPU priority: it yields the CPU to the gateway while it keeps up.

Storing events is deferred work: a call's event is already safe in the spool when its answer
leaves. So the writer reads and decodes the spool at ``SCHED_IDLE`` (it runs on CPU time nothing
else wants, and never delays a request), and stores at normal priority: a transaction holds
database locks (SQLite's one write lock above all), which a starved holder must not keep.

When the writer has been behind for ``max_lag`` seconds (batches full, one after another: the
machine is saturated for that long), it stays at normal priority until it catches up, so events
keep reaching the database under sustained load too.

Linux only, and only where the process may return to normal priority (root, or an
``RLIMIT_NICE`` that allows nice 0); elsewhere the writer simply runs at normal priority.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time

log = logging.getLogger(__name__)


def _can_switch_back() -> bool:
    if not sys.platform.startswith("linux") or not hasattr(os, "SCHED_IDLE"):
        return False
    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_NICE)[0] >= 20


class WriterPriority:
    """Switches the calling thread between SCHED_IDLE and SCHED_OTHER (one system call each way)."""

    def __init__(self, max_lag: float, *, enabled: bool = True) -> None:
        self.max_lag = max_lag
        self.enabled = enabled and _can_switch_back()
        self.idle = False
        self.behind_since: float | None = None

    @property
    def lagging(self) -> bool:
        return self.behind_since is not None and time.monotonic() - self.behind_since >= self.max_lag

    def note(self, caught_up: bool) -> None:
        """After each batch: did it take everything there was to read?"""
        if caught_up:
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = time.monotonic()

    def background(self) -> None:
        """Before reading: idle priority, unless behind for too long."""
        self._set(not self.lagging)

    def foreground(self) -> None:
        """Before a transaction: normal priority."""
        self._set(False)

    def _set(self, idle: bool) -> None:
        if not self.enabled or idle == self.idle:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE if idle else os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            log.warning("the spool writer cannot change its CPU priority; it keeps the normal one")
            self.enabled = False
            if self.idle:  # best effort: never stay idle
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            self.idle = False
            return
        self.idle = idle
