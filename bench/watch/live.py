"""What `bench watch` shows while the command runs: trials done / asked, in flight, the last
trial's end, processes, threads and CPU of capacity. A rich table on a terminal, plain lines
elsewhere (CI logs); folded from the tracer's files and the probes' samples."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from bench.records.rundir import TRIALS_FILE
from bench.records.schema import check_object, check_trial
from bench.records.tail import JsonlTail
from bench.trial.tracer import TRACE_FILE

PLAIN_EVERY_S = 2.0  # plain lines (off a terminal) this often at first...
PLAIN_LATER_S = 10.0  # ...and this often after PLAIN_SLOW_AFTER_S, so an 8-hour log stays readable
PLAIN_SLOW_AFTER_S = 30.0


def plain_every(elapsed: float) -> float:
    return PLAIN_EVERY_S if elapsed < PLAIN_SLOW_AFTER_S else PLAIN_LATER_S


class LiveState:
    """Running totals of the tracer's events and the probes' last tree sample."""

    def __init__(self, out: Path, started: float) -> None:
        self.started = started
        self.lock = threading.Lock()
        self.samples: list[dict[str, Any]] = []
        self.last_tree: dict[str, Any] | None = None
        self._trace = JsonlTail(out / TRACE_FILE, check_object)
        self._trials = JsonlTail(out / TRIALS_FILE, check_trial)
        self.asked: dict[tuple[Any, Any], dict[str, Any]] = {}
        self.finished: set[tuple[Any, Any]] = set()
        self.done = 0
        self.not_complete = 0
        self.last_end: float | None = None
        self.hook: dict[int, str] = {}  # pid -> hook status ("armed", "installed", "not installed")

    def add_sample(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.samples.append(record)
            if record.get("kind") == "tree":
                self.last_tree = record

    def poll(self) -> None:
        events, trials = self._trace.read(), self._trials.read()
        with self.lock:
            for e in events:
                pid = int(e.get("pid") or 0)
                if e.get("event") == "ask":
                    self.asked[(e.get("study"), e.get("number"))] = e
                elif e.get("event") == "armed":
                    self.hook.setdefault(pid, "armed")
                elif e.get("event") == "hook":
                    self.hook[pid] = str(e.get("status"))
            for t in trials:
                self.finished.add((t.get("study"), t.get("number")))
                if t.get("state") == "complete":
                    self.done += 1
                else:
                    self.not_complete += 1
                end = t.get("end")
                if end is not None:
                    self.last_end = max(self.last_end or 0.0, float(end))

    @property
    def in_flight(self) -> list[dict[str, Any]]:
        return [e for k, e in self.asked.items() if k not in self.finished]

    @property
    def traced(self) -> bool:
        return "installed" in self.hook.values()

    def _trial_text(self, now: float) -> str:
        if not self.traced:
            return "no Optuna trials traced yet"
        ago = "none finished yet" if self.last_end is None else f"last finished {now - self.last_end:.0f} s ago"
        failed = f" ({self.not_complete} not complete)" if self.not_complete else ""
        return (f"trials {self.done} done{failed} / {len(self.asked)} asked, "
                f"{len(self.in_flight)} in flight, {ago}")

    def _tree_text(self) -> str:
        t = self.last_tree
        if t is None:
            return "waiting for the first sample"
        cap = float(t.get("capacity_pct") or 0)
        cpu = float(t.get("cpu_pct_total") or 0)
        of_cap = f" ({100 * cpu / cap:.0f}% of capacity)" if cap else ""
        return (f"processes {t.get('n_procs')}, threads {t.get('n_threads')}, "
                f"CPU {cpu:.0f}% of {cap:.0f}%{of_cap}")

    def line(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        with self.lock:
            return f"[{now - self.started:6.1f}s] {self._trial_text(now)}; {self._tree_text()}"

    def table(self, now: float | None = None) -> Any:
        from rich.table import Table

        now = time.time() if now is None else now
        with self.lock:
            table = Table(title=f"bench watch: {now - self.started:.0f} s", show_header=False)
            table.add_column("what")
            table.add_column("value")
            table.add_row("trials", self._trial_text(now))
            per_pid: dict[Any, int] = {}
            for e in self.in_flight:
                per_pid[e.get("pid")] = per_pid.get(e.get("pid"), 0) + 1
            if per_pid:
                # ask/tell trials count in the process that asked; the objective may run elsewhere
                table.add_row("in flight per process", ", ".join(
                    f"pid {pid}: {n}" for pid, n in sorted(per_pid.items(), key=lambda kv: -kv[1])))
            for e in sorted(self.in_flight, key=lambda e: e.get("number") or 0)[:8]:
                table.add_row(f"  trial {e.get('number')}",
                              f"running {now - float(e.get('start') or now):.0f} s (pid {e.get('pid')})")
            table.add_row("process tree", self._tree_text())
            t = self.last_tree
            if t is not None:
                busiest = sorted(t.get("procs") or [], key=lambda p: -float(p.get("cpu_pct") or 0))[:3]
                table.add_row("busiest", ", ".join(
                    f"{p.get('pid')} {p.get('name')} {float(p.get('cpu_pct') or 0):.0f}%" for p in busiest))
            return table
