"""Read the run's heartbeats as they are appended: which process started which trial, and when.

Strategies whose workers the parent cannot ask directly (Ray tasks, loky workers) learn from the
beats where a trial really runs and when it really started (a task may wait for a worker first).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.records.schema import check_heartbeat
from bench.records.tail import JsonlTail


@dataclass(frozen=True)
class Started:
    t: float
    pid: int
    worker: str


class HeartbeatTail:
    """Incremental reader of heartbeats.jsonl for one run label; cheap to call often."""

    def __init__(self, path: str | None, run: str) -> None:
        self.run = run
        self._tail = JsonlTail(path, check_heartbeat) if path else None
        self.started: dict[int, Started] = {}

    def poll(self) -> dict[int, Started]:
        """Read what was appended since the last call; returns trial number -> first beat."""
        if self._tail is None:
            return self.started
        for beat in self._tail.read():
            if beat.get("run") != self.run:
                continue
            number = beat.get("trial")
            if number is not None and number not in self.started:
                self.started[number] = Started(beat.get("t", 0.0), beat.get("pid", 0), beat.get("worker", ""))
        return self.started

    def pid_of(self, number: int) -> int:
        got = self.poll().get(number)
        return got.pid if got is not None else 0
