"""Progress heartbeats from inside a running trial, one mechanism for every strategy.

Workers (threads, processes, Ray tasks) append one JSON line per beat to the run's
`heartbeats.jsonl`. O_APPEND writes of one short line are not interleaved on Linux, so many
writers share the file without a lock, and the parent only has to read one file.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

# At most this many beats a second per thread; the last generation always beats.
MIN_INTERVAL_S = 0.2


@dataclass
class _Sink:
    path: str
    run: str
    trial: int
    worker: str
    last: float = 0.0


_local = threading.local()


def attach(path: str | None, run: str, trial: int, worker: str) -> None:
    """Route this thread's beats to `path` for one trial (None turns beats off)."""
    _local.sink = _Sink(path, run, trial, worker) if path else None


def detach() -> None:
    _local.sink = None


@contextlib.contextmanager
def trial(path: str | None, run: str, number: int, worker: str) -> Iterator[None]:
    """One trial's beats from this thread: attached, a first beat at once (the trial has
    started), detached when the block ends however it ends."""
    attach(path, run, number, worker)
    beat(0, 1, force=True)
    try:
        yield
    finally:
        detach()


def beat(step: int, total: int, *, force: bool = False) -> None:
    """Record that the current trial reached `step` of `total` (cheap; rate-limited)."""
    sink: _Sink | None = getattr(_local, "sink", None)
    if sink is None:
        return
    now = time.time()
    if not force and step < total and now - sink.last < MIN_INTERVAL_S:
        return
    sink.last = now
    line = json.dumps(
        {
            "t": now, "run": sink.run, "pid": os.getpid(), "tid": threading.get_native_id(),
            "worker": sink.worker, "trial": sink.trial, "step": step, "total": total,
        }
    )
    try:
        fd = os.open(sink.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        # A full disk must not fail the trial; progress is advisory.
        pass
