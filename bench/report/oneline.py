"""The verdict in one plain line, for `-q` and for CI logs: root cause, then what to use."""

from __future__ import annotations

from bench.analysis.diagnose import Diagnosis
from bench.report.verdict import best_run, contended_measure, primary, unjudged_runs


def verdict_line(d: Diagnosis) -> str:
    """`verdict: root cause CODE[+CODE] in RUN; use RUN (N.NNx sequential)`, from the same
    choices the report's verdict paragraph makes."""
    if not d.recorded.runs:
        return "verdict: no run finished; nothing to diagnose"
    top = primary(d)
    parts = [f"root cause {'+'.join(f.code for f in top[1][:2])} in {top[0]}" if top
             else "no problem found"]
    if top is None and (unjudged := unjudged_runs(d)):
        parts[0] += f" (health inconclusive: {', '.join(unjudged)})"
    best = best_run(d)
    if best is not None:
        s = d.recorded.summaries[best]
        if s.strategy == "sequential":
            parts.append("no parallel run beat sequential")
        elif shared := contended_measure(d, best):
            speed = f" ({s.speedup:.2f}x sequential)" if s.speedup is not None else ""
            parts.append(f"inconclusive: fastest {best}{speed}, but {', '.join(shared)} shared "
                         "the machine (CONTENDED)")
        else:
            parts.append(f"use {best}" + (f" ({s.speedup:.2f}x sequential)" if s.speedup is not None else ""))
    return "verdict: " + "; ".join(parts)
