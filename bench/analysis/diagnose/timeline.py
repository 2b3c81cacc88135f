"""Figures of a run's trial records and heartbeats over time: trial spans, the peak of trials in
flight, idle gaps between a worker's trials, and the longest stretch without progress."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.records.schema import Heartbeat, TrialRow

# Trial states whose start/end mark real work (a cancelled trial never ran: start == end, pid 0).
RAN_STATES = ("complete", "pruned", "failed", "timeout", "crashed")


@dataclass(frozen=True)
class Gap:
    """The longest stretch without a progress event, in seconds since the run started."""

    seconds: float
    start: float
    end: float


def trial_spans(
    trials: Iterable[TrialRow], heartbeats: Iterable[Heartbeat]
) -> list[tuple[float, float, int]]:
    """(start, end, pid) of every trial that ran: its record, else the span of its heartbeats."""
    spans: dict[tuple[Any, ...], tuple[float, float, int]] = {}
    for t in trials:
        if t.get("state") in RAN_STATES and t.get("start") is not None and t.get("end") is not None:
            # A watched program may run several studies, each numbering its trials from 0.
            spans[("t", t.get("study"), t.get("number"))] = (
                float(t["start"]),
                float(t["end"]),
                int(t.get("pid") or 0),
            )
    beats: dict[Any, list[Heartbeat]] = {}
    for b in heartbeats:
        beats.setdefault(b.get("trial"), []).append(b)
    for number, bs in beats.items():
        if ("t", None, number) in spans:
            continue
        ts = [float(b["t"]) for b in bs if b.get("t") is not None]
        if ts:
            spans[("b", number)] = (min(ts), max(ts), int(bs[0].get("pid") or 0))
    return list(spans.values())


def peak_overlap(spans: Iterable[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end at t closes before a start at t opens)."""
    spans = list(spans)
    events = sorted(
        [(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1])
    )
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


def dispatch_gaps(trials: Iterable[TrialRow]) -> list[float]:
    """Idle time between consecutive trials of the same worker (one thread of one process)."""
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for t in trials:
        if (
            t.get("state") in RAN_STATES
            and t.get("worker")
            and t.get("start") is not None
            and t.get("end") is not None
        ):
            by_worker.setdefault(str(t["worker"]), []).append((float(t["start"]), float(t["end"])))
    gaps: list[float] = []
    for spans in by_worker.values():
        spans.sort()
        gaps.extend(max(0.0, b[0] - a[1]) for a, b in zip(spans, spans[1:], strict=False))
    return gaps


def longest_gap(events: Iterable[float], start: float | None, end: float | None) -> Gap | None:
    """Longest stretch between progress events, the run's end included as a boundary.

    The stretch before the first event is start-up, a separate finding; a run with no event at
    all counts from its start.
    """
    ts = sorted(events)
    if not ts:
        if start is None or end is None:
            return None
        return Gap(end - start, 0.0, end - start)
    origin = start if start is not None else ts[0]
    points = ts + ([end] if end is not None and end > ts[-1] else [])
    best: Gap | None = None
    for a, b in zip(points, points[1:], strict=False):
        if best is None or b - a > best.seconds:
            best = Gap(b - a, a - origin, b - origin)
    return best or Gap(0.0, ts[0] - origin, ts[0] - origin)
