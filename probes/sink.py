"""Where records go: the one thread-safe JSONL appender (one line per record, appended).

bench's results directory writes through it too (probes must not import bench, so it lives here).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class WriteFailed(Exception):
    """A record could not be appended (disk full, directory removed, read-only filesystem)."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        self.error = error
        super().__init__(f"cannot write {path}: {error.strerror or error}")


class JsonlSink:
    """Callable sink appending one JSON line per record with a single O_APPEND write.

    One write() per complete line means concurrent writers (the two samplers, a runner's own
    appender on the same file) never interleave within a line, and a kill leaves at most one
    truncated last line, which readers skip.

    A failed write raises WriteFailed. With `keep_going` (a probe's samples) it does not: the
    first failure is kept in `failure` and later records are counted in `dropped`, so a sampler
    thread neither dies nor logs the same full disk twice a second; whoever owns the run checks
    `failure` and stops it.
    """

    def __init__(self, path: str | Path, *, keep_going: bool = False) -> None:
        self.path = Path(path)
        self.keep_going = keep_going
        self.failure: WriteFailed | None = None
        self.written = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        self.write(record)

    def append(self, record: dict[str, Any]) -> None:
        """Same as write(); the name bench's appenders use."""
        self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            if self.failure is not None and self.keep_going:
                self.dropped += 1
                return
            try:
                self._write(line)
            except OSError as exc:
                failed = WriteFailed(self.path, exc)
                self.failure = self.failure or failed
                if self.keep_going:
                    self.dropped += 1
                    return
                raise failed from None
            self.written += 1

    def _write(self, line: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(line)
            while view:  # a regular file takes it all at once; loop only for odd filesystems
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
