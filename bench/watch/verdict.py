"""The diagnosis of a watch and its summary on the terminal. The rules are compare's: a traced
watch is analysed like any results directory (trial records + samples); one without trial
records gets the rules that samples alone can judge."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from bench.analysis.diagnose import Finding
from bench.watch.results import LABEL


def diagnose_watch(path: Path) -> list[Finding]:
    """Findings of the watched command; a failure here costs one line, never the recording."""
    from bench.analysis.diagnose import Recorded, analyse

    try:
        # The same path `bench report` takes, so the terminal and report.md agree.
        return analyse(Recorded.load(path)).findings.get(LABEL, [])
    except Exception as exc:
        print(f"bench watch: diagnosis skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
        return []


def print_summary(meta: dict[str, Any], findings: list[Finding], out: Path, stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    w = meta.get("watch") or {}
    table = Table(title="bench watch", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("command", shlex.join(str(a) for a in meta.get("command") or []))
    if w.get("left_running"):
        table.add_row("status", f"still running after {meta.get('duration')} s (pid {meta.get('pid')}); "
                      f"left running: stop it with `kill -- -{meta.get('pid')}`")
    else:
        stop = w.get("stop")
        how = f"; stopped by bench ({', '.join(stop['signals'])})" if stop else ""
        table.add_row("status", f"exit status {w.get('exit_code')} after {meta.get('duration')} s{how}")
    table.add_row("trials", str((w.get("hook") or {}).get("sentence", "")))
    if w.get("trials"):
        states = ", ".join(f"{v} {k}" for k, v in sorted((w.get("states") or {}).items()))
        table.add_row("", f"{w['trials']} trials ({states}) in {w.get('trial_pids')} process(es); "
                      f"median trial {w.get('median_trial_s')} s")
    if w.get("cost"):
        table.add_row("cost", w["cost"]["text"])
    if w.get("in_flight_at_end"):
        table.add_row("in flight at the end", str(w["in_flight_at_end"]))
    if meta.get("leftovers_stopped"):
        table.add_row("left behind, stopped", ", ".join(str(p) for p in meta["leftovers_stopped"]))
    for f in findings:
        table.add_row("finding", f"{f.code} ({f.severity}): {f.explanation}\nnext: {f.action}\n"
                      f"runbook: {f.runbook}")
    if not findings:
        table.add_row("finding", "none: not enough evidence for any rule")
    table.add_row("written to", str(meta.get("report") or out))
    Console(file=stream, width=None if stream.isatty() else 120).print(table)
