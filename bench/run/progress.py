"""Live progress of one strategy run: trials done, and per worker the trial and GA generation.

Reads the run's heartbeats.jsonl and trials.jsonl incrementally, so it works the same for threads,
processes and Ray tasks. A rich live table on a terminal; plain periodic lines otherwise (CI).
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bench.records.rundir import HEARTBEATS_FILE, TRIALS_FILE
from bench.records.schema import Heartbeat, TrialRow, check_heartbeat, check_trial
from bench.records.tail import JsonlTail

PLAIN_EVERY_S = 10.0


def trial_line(t: TrialRow) -> str:
    """One finished trial, as -v prints it."""
    took = ""
    if t.get("start") is not None and t.get("end") is not None:
        took = f" in {float(t['end']) - float(t['start']):.2f} s"
    value = t.get("value")
    shown = f" value {value:.4g}" if isinstance(value, (int, float)) else ""
    error = f" ({t['error']})" if t.get("error") else ""
    return (f"[{t.get('run')}] trial {t.get('number')} {t.get('state')}{took}{shown} "
            f"pid {t.get('pid')}{error}")


@dataclass
class WorkerState:
    trial: int
    step: int
    total: int
    t: float


class ProgressState:
    """What the display shows, folded from heartbeats and trial records of one run label."""

    def __init__(self, label: str, total_trials: int) -> None:
        self.label = label
        self.total = total_trials
        self.done = 0
        self.failed = 0
        self.workers: dict[str, WorkerState] = {}
        self.last_beat = time.time()

    def fold(self, beats: list[Heartbeat], trials: list[TrialRow]) -> None:
        for b in beats:
            if b.get("run") != self.label:
                continue
            key = f"{b.get('pid')}:{b.get('tid')}"
            at = b.get("t", self.last_beat)
            self.workers[key] = WorkerState(b.get("trial", -1), b.get("step", 0), b.get("total", 0), at)
            self.last_beat = max(self.last_beat, at)
        for t in trials:
            if t.get("run") != self.label:
                continue
            self.done += 1
            if t.get("state") not in ("complete", "pruned"):
                self.failed += 1
            for key, w in list(self.workers.items()):
                if w.trial == t.get("number"):
                    del self.workers[key]

    def line(self) -> str:
        parts = [f"[{self.label}] {self.done}/{self.total} trials done"]
        if self.failed:
            parts.append(f"({self.failed} not complete)")
        busy = sorted(self.workers.items(), key=lambda kv: kv[1].trial)
        if busy:
            desc = ", ".join(f"trial {w.trial} at {w.step}/{w.total}" for _, w in busy[:8])
            parts.append(f"in flight: {desc}")
        parts.append(f"last heartbeat {time.time() - self.last_beat:.0f}s ago")
        return "; ".join(parts)


class Progress:
    """Background display; `with Progress(...)` around the wait for one strategy run."""

    def __init__(
        self, run_dir: Path, label: str, total_trials: int, *, live: bool | None = None,
        stream: TextIO | None = None, interval: float = 0.5, trial_lines: bool = False,
    ) -> None:
        self.state = ProgressState(label, total_trials)
        self.beats = JsonlTail(run_dir / HEARTBEATS_FILE, check_heartbeat)
        self.trials = JsonlTail(run_dir / TRIALS_FILE, check_trial)
        # Skip what earlier runs wrote: this display is about one label from now on.
        for tail in (self.beats, self.trials):
            try:
                tail.offset = tail.path.stat().st_size
            except FileNotFoundError:
                pass
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.interval = interval
        self.trial_lines = trial_lines  # -v: one line per finished trial
        self._pending: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-progress", daemon=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def poll(self) -> None:
        trials = self.trials.read()
        self.state.fold(self.beats.read(), trials)
        if self.trial_lines:
            self._pending.extend(trial_line(t) for t in trials if t.get("run") == self.state.label)

    def _take_lines(self) -> list[str]:
        lines, self._pending = self._pending, []
        return lines

    def _render(self) -> Any:
        from rich.table import Table

        s = self.state
        table = Table(title=f"{s.label}: {s.done}/{s.total} trials", expand=False)
        table.add_column("worker")
        table.add_column("trial", justify="right")
        table.add_column("progress")
        table.add_column("beat", justify="right")
        now = time.time()
        for key, w in sorted(s.workers.items(), key=lambda kv: kv[1].trial):
            frac = w.step / w.total if w.total else 0.0
            bar = "█" * int(frac * 20) + "·" * (20 - int(frac * 20))
            table.add_row(key, str(w.trial), f"{bar} {w.step}/{w.total}", f"{now - w.t:.0f}s")
        return table

    def _loop(self) -> None:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            with Live(self._render(), console=Console(file=self.stream), refresh_per_second=4,
                      transient=True) as live:
                while not self._stop.wait(self.interval):
                    self.poll()
                    for line in self._take_lines():
                        live.console.print(line, markup=False, highlight=False)
                    live.update(self._render())
            self.poll()
            for line in self._take_lines():
                print(line, file=self.stream)
            print(self.state.line(), file=self.stream)
            return
        last = 0.0
        while not self._stop.wait(self.interval):
            self.poll()
            for line in self._take_lines():
                print(line, file=self.stream, flush=True)
            if time.time() - last >= PLAIN_EVERY_S:
                last = time.time()
                print(self.state.line(), file=self.stream, flush=True)
        self.poll()
        for line in self._take_lines():
            print(line, file=self.stream, flush=True)
        print(self.state.line(), file=self.stream, flush=True)
