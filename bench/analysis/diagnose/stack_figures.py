"""Figures of a run's py-spy stack samples: Python thread states per process, and the kernel's
view of its working threads' GIL waits (probes.gil)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_ACTIVE_STATES = ("gil", "native", "waiting_gil")


@dataclass(frozen=True)
class StackStats:
    """Python thread states of one process over a run's stack samples, and the kernel's view of
    its working threads after each dump where it was measured (probes.gil)."""

    pid: int
    samples: int
    counts: dict[str, int]
    # Working-thread observations with a kernel window, and their sums: GIL-wait share, sleep
    # share, switches/s, syscall reads and reads that found the thread blocked on the GIL.
    waits: int = 0
    gil_wait_sum: float = 0.0
    sleep_sum: float = 0.0
    switches_sum: float = 0.0
    reads: int = 0
    gil_blocked: int = 0

    @property
    def active(self) -> int:
        return sum(self.counts.get(s, 0) for s in _ACTIVE_STATES)

    @property
    def active_mean(self) -> float:
        return self.active / self.samples if self.samples else 0.0

    @property
    def gil_wait_share(self) -> float | None:
        """Share of working threads' time spent waiting for the GIL: measured by the kernel where
        the samples carry its view, else the share of working threads py-spy saw waiting."""
        if self.waits:
            return self.gil_wait_sum / self.waits
        return self.counts.get("waiting_gil", 0) / self.active if self.active else None

    @property
    def gil_wait_source(self) -> str:
        return "kernel" if self.waits else "stacks"

    @property
    def sleep_mean(self) -> float | None:
        return self.sleep_sum / self.waits if self.waits else None

    @property
    def switches_mean(self) -> float | None:
        return self.switches_sum / self.waits if self.waits else None


def stack_stats(stacks: Iterable[Mapping[str, Any]]) -> tuple[StackStats, ...]:
    """Thread-state totals per process; counts come from the sample's `counts` or its threads."""
    per: dict[int, tuple[int, dict[str, int]]] = {}
    waits: dict[int, list[float]] = {}  # pid -> [n, gil_wait, sleep, switches, reads, gil_blocked]
    for s in stacks:
        counts = s.get("counts")
        if not isinstance(counts, dict):
            counts = {}
            for t in s.get("threads") or []:
                state = str(t.get("state") or "idle")
                counts[state] = counts.get(state, 0) + 1
        pid = int(s.get("pid") or 0)
        n, total = per.get(pid, (0, {}))
        for k, v in counts.items():
            total[k] = total.get(k, 0) + int(v or 0)
        per[pid] = (n + 1, total)
        w = waits.setdefault(pid, [0.0] * 6)
        for t in s.get("threads") or []:
            wait = t.get("wait")
            if t.get("state") not in _ACTIVE_STATES or not isinstance(wait, dict):
                continue
            w[0] += 1
            w[1] += float(wait.get("gil_wait") or 0.0)
            w[2] += float(wait.get("sleep") or 0.0)
            w[3] += float(wait.get("switches_s") or 0.0)
            w[4] += int(wait.get("reads") or 0)
            w[5] += int(wait.get("gil_blocked") or 0)
    out = []
    for pid, (n, total) in sorted(per.items()):
        w = waits[pid]
        out.append(StackStats(pid, n, total, int(w[0]), w[1], w[2], w[3], int(w[4]), int(w[5])))
    return tuple(out)
