"""Incremental reading of a JSONL file that is still being appended to (live progress, a
strategy watching its heartbeats): each call returns the records appended since the last one.

A partial last line (a writer mid-write) waits for the next call; a line that is not a record of
its shape is skipped, like the full loader (bench.records.rundir) skips it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from bench.records.schema import ShapeError

R = TypeVar("R")


class JsonlTail(Generic[R]):
    """Records appended to `path` since the last `read()`, each checked by `check`."""

    def __init__(self, path: str | Path, check: Callable[[object], R]) -> None:
        self.path = Path(path)
        self.check = check
        self.offset = 0
        self._partial = b""
        self.skipped = 0

    def read(self) -> list[R]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:  # not there yet, or gone: nothing new
            return []
        self.offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        out: list[R] = []
        for raw in lines:
            if not raw.strip():
                continue
            try:
                out.append(self.check(json.loads(raw)))
            except (ValueError, RecursionError, ShapeError):  # JSONDecodeError is a ValueError
                self.skipped += 1
        return out
