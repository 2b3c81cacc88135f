"""What `bench attach` shows while it watches (a rich table on a terminal, a plain line every
PLAIN_EVERY_S in a pipe) and the summary table it prints at the end."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

PLAIN_EVERY_S = 2.0


class LiveTotals:
    """Running totals of what the samplers have sent, for the live line/table."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: list[dict[str, Any]] = []
        self.last_tree: dict[str, Any] | None = None
        self.states: Counter[str] = Counter()
        self.notes: list[str] = []

    def add(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.samples.append(record)
            kind = record.get("kind")
            if kind == "tree":
                self.last_tree = record
            elif kind == "stack":
                self.states.update(record.get("counts", {}))
            elif kind == "note":
                self.notes.append(str(record.get("message", "")))

    def line(self, elapsed: float) -> str:
        with self.lock:
            t, states = self.last_tree, dict(self.states)
        head = f"[{elapsed:5.1f}s]"
        if t is None:
            return f"{head} waiting for the first sample"
        of_cap = 100.0 * t["cpu_pct_total"] / t["capacity_pct"] if t["capacity_pct"] else 0.0
        text = (f"{head} processes {t['n_procs']}  threads {t['n_threads']}  CPU "
                f"{t['cpu_pct_total']:.0f}% of {t['capacity_pct']:.0f}% "
                f"({of_cap:.0f}% of capacity)")
        if sum(states.values()):
            text += "  GIL states " + " ".join(f"{k}={v}" for k, v in states.items() if v)
        return text

    def table(self, elapsed: float, duration: float) -> Any:
        from rich.table import Table

        with self.lock:
            t, states = self.last_tree, dict(self.states)
        table = Table(title=f"bench attach: {elapsed:.0f}/{duration:.0f} s", show_header=False)
        table.add_column("what")
        table.add_column("value")
        if t is None:
            table.add_row("waiting", "for the first sample")
            return table
        of_cap = 100.0 * t["cpu_pct_total"] / t["capacity_pct"] if t["capacity_pct"] else 0.0
        table.add_row("processes", str(t["n_procs"]))
        table.add_row("threads", str(t["n_threads"]))
        table.add_row("CPU", f"{t['cpu_pct_total']:.0f}% of {t['capacity_pct']:.0f}% "
                      f"({of_cap:.0f}% of capacity)")
        table.add_row("per core", " ".join(f"{c:.0f}" for c in t["per_core"][:64]))
        busiest = sorted(t["procs"], key=lambda p: -p["cpu_pct"])[:3]
        table.add_row(
            "busiest", ", ".join(f"{p['pid']} {p['name']} {p['cpu_pct']:.0f}%" for p in busiest)
        )
        if sum(states.values()):
            table.add_row("Python threads", " ".join(f"{k}={v}" for k, v in states.items() if v))
        return table


def watch_until(duration: float, live: LiveTotals, stream: TextIO, tty: bool, pid: int) -> None:
    # `duration` may be infinite (--until-exit): the loops end when the target exits.
    """Until `duration` has passed or the target has exited, showing what the probes see."""
    from probes.pyspy import alive as _alive

    start = time.monotonic()
    end = start + duration
    if tty:
        from rich.console import Console
        from rich.live import Live

        with Live(live.table(0.0, duration), console=Console(file=stream), refresh_per_second=2,
                  transient=True) as view:
            while (now := time.monotonic()) < end and _alive(pid):
                time.sleep(min(0.5, end - now))
                view.update(live.table(time.monotonic() - start, duration))
        if not _alive(pid):
            print(f"bench attach: process {pid} exited", file=stream)
        return
    next_line = start + PLAIN_EVERY_S
    while (now := time.monotonic()) < end:
        time.sleep(max(0.0, min(next_line, end, now + 0.5) - now))
        if not _alive(pid):
            print(f"bench attach: process {pid} exited", file=stream, flush=True)
            return
        if time.monotonic() >= next_line:
            print(live.line(time.monotonic() - start), file=stream, flush=True)
            next_line += PLAIN_EVERY_S


def print_summary(summary: dict[str, Any], findings: list[Any], out: Path, stream: TextIO) -> None:
    from bench.cli.render import console, show
    from bench.cli.render import table as make_table

    con = console(stream)
    table = make_table(con, "attach summary", show_header=False)
    table.add_column("what")
    table.add_column("value")
    if summary.get("tree_samples"):
        table.add_row("processes (peak / median)",
                      f"{summary['procs_peak']} / {summary['procs_median']:g}")
        table.add_row("threads (peak total / peak per process)",
                      f"{summary['threads_peak']} / {summary['threads_per_proc_peak']}")
        table.add_row("CPU (mean, 100% = one core)",
                      f"{summary['cpu_pct_mean']:.0f}% of {summary['capacity_pct']:.0f}% "
                      f"= {summary['cpu_of_capacity_pct_mean']:.0f}% of capacity")
        table.add_row("CPU of children between samples", f"{summary['unattributed_cpu_s']:.2f} s")
        table.add_row("involuntary context switches", f"{summary['ctx_invol_per_s']:.0f}/s")
    else:
        table.add_row("process tree", "no samples (the process exited at once?)")
    fractions = summary.get("thread_state_fractions", {})
    if summary.get("stack_samples"):
        table.add_row("Python thread states",
                      "  ".join(f"{k} {100 * v:.0f}%" for k, v in fractions.items()))
        if "gil_wait_mean" in summary:
            table.add_row(
                "working threads' time waiting for the GIL",
                f"{100 * summary['gil_wait_mean']:.0f}% (kernel: {summary['switches_s_mean']:,} "
                f"switches/s; {summary['gil_blocked_reads']} of {summary['syscall_reads']} "
                "syscall reads asleep on the GIL)",
            )
        for f in summary.get("busiest_frames", [])[:3]:
            table.add_row("busy in", f"{f['frame']} ({100 * f['fraction']:.0f}%)")
    for note in summary.get("notes", []):
        table.add_row("note", note)
    for f in findings:
        text = f"{f.get('code', '?')} ({f.get('severity', '')}): {f.get('explanation', '')}"
        if f.get("action"):
            text += f"\nnext: {f['action']}"
        if f.get("runbook"):
            text += f"\nrunbook: {f['runbook']}"
        table.add_row("finding", text)
    table.add_row("written to", str(out))
    show(con, table)
