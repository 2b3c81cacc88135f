"""Read the run's heartbeats as they are appended: which process started which trial, and when.

Strategies whose workers the parent cannot ask directly (Ray tasks, loky workers) learn from the
beats where a trial really runs and when it really started (a task may wait for a worker first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Started:
    t: float
    pid: int
    worker: str


class HeartbeatTail:
    """Incremental reader of heartbeats.jsonl for one run label; cheap to call often."""

    def __init__(self, path: str | None, run: str) -> None:
        self.path = path
        self.run = run
        self._offset = 0
        self._partial = b""
        self.started: dict[int, Started] = {}

    def poll(self) -> dict[int, Started]:
        """Read what was appended since the last call; returns trial number -> first beat."""
        if not self.path:
            return self.started
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return self.started
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # an incomplete last line waits for the next call
        for raw in lines:
            try:
                beat = json.loads(raw)
            except ValueError:
                continue
            if beat.get("run") != self.run:
                continue
            number = beat.get("trial")
            if isinstance(number, int) and number not in self.started:
                self.started[number] = Started(
                    float(beat["t"]), int(beat["pid"]), str(beat["worker"])
                )
        return self.started

    def pid_of(self, number: int) -> int:
        got = self.poll().get(number)
        return got.pid if got is not None else 0
