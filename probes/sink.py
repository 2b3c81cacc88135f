"""Where probe records go: a thread-safe JSONL file sink (one line per record, appended)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class JsonlSink:
    """Callable sink appending one JSON line per record with a single O_APPEND write.

    One write() per complete line means concurrent writers (the two samplers, a runner's own
    appender on the same file) never interleave within a line, and a kill leaves at most one
    truncated last line, which readers skip.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        self.write(record)

    def append(self, record: dict[str, Any]) -> None:
        """Same as write(); the name bench's appenders use."""
        self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:  # a regular file takes it all at once; loop only for odd filesystems
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
