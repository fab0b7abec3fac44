"""Child processes whose output goes to a file, not a pipe: a process that logs more than a pipe
holds (64 KiB) while the test is not reading would block on its next write."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import IO


class LoggedProcess(subprocess.Popen[bytes]):
    """``Popen`` with stdout and stderr in ``log``; ``communicate`` returns what it wrote."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        super().__init__(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def communicate(
        self, input: bytes | str | None = None, timeout: float | None = None
    ) -> tuple[bytes, bytes]:
        self.wait(timeout)
        self._log.close()
        return self.log_path.read_bytes(), b""
