"""Terminal rendering shared by commands: rich tables that follow the terminal, plain text in a pipe.

On a terminal a table takes the terminal's width and rich's colours (NO_COLOR honoured, as rich
reads it); written to a pipe or a file it is plain text: no box drawing, no escape codes, columns
aligned with spaces and never wrapped to a guessed width (COLUMNS, when set, still wins).
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from bench.analysis.summary import summarize
from bench.records.rundir import RunDir

# Wide enough for every summary table unwrapped; a pipe has no width of its own.
PIPE_WIDTH = 240


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def console(stream: TextIO | None = None) -> Console:
    """A console on `stream` (default: stdout as it is at call time) that suits where it writes."""
    file = stream if stream is not None else sys.stdout
    if _is_tty(file):
        return Console(file=file)
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else PIPE_WIDTH
    return Console(file=file, width=width, color_system=None, highlight=False, emoji=False,
                   force_terminal=False)


def table(con: Console, title: str | None = None, **kw: Any) -> Table:
    """A table styled for `con`: boxed on a terminal, plain aligned columns otherwise."""
    if con.is_terminal:
        return Table(title=title, **kw)
    return Table(title=title, box=None, show_edge=False, title_justify="left",
                 title_style="", header_style="", **kw)


def show(con: Console, renderable: Any) -> None:
    """Print a table; in a pipe without the trailing spaces rich pads every line with."""
    if con.is_terminal:
        con.print(renderable)
        return
    with con.capture() as cap:
        con.print(renderable)
    con.file.write("\n".join(line.rstrip() for line in cap.get().splitlines()) + "\n")
    con.file.flush()


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
