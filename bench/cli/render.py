"""Terminal rendering shared by commands: the run summary table (helpers in bench.report.terminal)."""

from __future__ import annotations

from rich.console import Console

from bench.analysis.summary import summarize
from bench.records.rundir import RunDir
from bench.report.terminal import PIPE_WIDTH, console, show, table

__all__ = ["PIPE_WIDTH", "console", "print_summary", "show", "table"]


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def print_summary(rd: RunDir, con: Console | None = None) -> None:
    con = con or console()
    rows = summarize(rd.runs(), rd.trials())
    t = table(con, f"corebench summary: {rd.path}")
    for col in ("run", "status", "workers", "threads", "pids", "trials done", "wall", "startup",
                "speedup", "efficiency", "wall speedup"):
        t.add_column(col, justify="right" if col not in ("run", "status") else "left")
    for r in rows:
        t.add_row(
            r.label, r.status if not r.reason or r.status == "ok" else f"{r.status}: {r.reason[:60]}",
            str(r.workers), "default" if r.threads is None else str(r.threads), str(r.pids),
            f"{r.trials_done}" + (f" (+{r.trials_failed} not ok)" if r.trials_failed else ""),
            _fmt(r.wall, ".1f", " s"), _fmt(r.startup, ".1f", " s"), _fmt(r.speedup, ".2f", "x"),
            _fmt(r.efficiency, ".0%"), _fmt(r.wall_speedup, ".2f", "x"),
        )
    show(con, t)
