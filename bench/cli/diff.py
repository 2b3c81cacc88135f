"""`bench diff A B`: two results directories side by side, each difference held against the noise
the runs themselves show (bench/analysis/diff.py says how). Exit 1 when a run got significantly
slower in B, 0 otherwise; bad input exits 2."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.cli._json import add_json_argument, emit, human_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="the reference results directory (before)")
    p.add_argument("b", metavar="B", help="the results directory to compare with it (after)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    add_json_argument(p)


def _x(v: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def _pair(a: float | None, b: float | None, spec: str, suffix: str = "") -> str:
    return f"{_x(a, spec, suffix)} → {_x(b, spec, suffix)}"


def document(result: Any) -> dict[str, Any]:
    """The diff as a results document: the `diff` section; `runs` and `findings` stay empty
    (each side's own are in its findings.json), B's machine and config fill the envelope."""
    from bench.analysis.diff import METHOD
    from bench.records.rundir import load_meta
    from bench.report.json_out import envelope, plain

    doc = envelope("diff", result.b, load_meta(result.b))
    doc["diff"] = {
        "a": str(result.a), "b": str(result.b), "same_machine": result.same_machine,
        "machine_differences": [{"fact": d.name, "a": plain(d.a), "b": plain(d.b)}
                                for d in result.machine_differences],
        "config_differences": [{"setting": d.name, "a": plain(d.a), "b": plain(d.b)}
                               for d in result.config_differences],
        "only_in_a": list(result.only_in_a), "only_in_b": list(result.only_in_b),
        "alpha": result.alpha, "method": METHOD, "warnings": result.warnings(),
        "rows": [plain(r) for r in result.rows],
    }
    doc["verdict"] = verdict_line(result)
    return doc


def verdict_line(result: Any) -> str:
    slower = [r.label for r in result.regressions()]
    faster = [r.label for r in result.significant() if r.label not in slower]
    if not slower and not faster:
        return "diff: no difference larger than the runs' own noise"
    parts = []
    if slower:
        parts.append("slower beyond noise: " + ", ".join(slower))
    if faster:
        parts.append("faster beyond noise: " + ", ".join(faster))
    return "diff: " + "; ".join(parts)


def print_diff(result: Any) -> None:
    from bench.cli.render import console, show, table

    con = console()
    t = table(con, f"bench diff: {result.a} → {result.b}")
    for col in ("run", "trials/s", "ratio (95% interval)", "trial median", "p (trial times)",
                "speedup", "efficiency", "CPU share", "findings", "verdict"):
        t.add_column(col, justify="left" if col in ("run", "findings", "verdict") else "right")
    for r in result.rows:
        found = [*(f"+{c}" for c in r.findings_appeared), *(f"-{c}" for c in r.findings_gone)]
        interval = "" if r.ratio_low is None else f" ({r.ratio_low:.2f}-{r.ratio_high:.2f})"
        t.add_row(
            r.label, _pair(r.throughput_a, r.throughput_b, ".3f"),
            _x(r.throughput_ratio, ".2f", "x") + interval,
            _pair(r.trial_median_a, r.trial_median_b, ".2f", " s"), _x(r.p_trial_time, ".3f"),
            _pair(r.speedup_a, r.speedup_b, ".2f", "x"), _pair(r.efficiency_a, r.efficiency_b, ".0%"),
            _pair(r.cpu_share_a, r.cpu_share_b, ".0%"), " ".join(found) or "same",
            r.verdict if r.verdict != "not comparable" else f"not comparable: {r.reason}",
        )
    show(con, t)
    for label in result.only_in_a:
        print(f"only in A: {label}")
    for label in result.only_in_b:
        print(f"only in B: {label}")


def run(args: argparse.Namespace) -> int:
    from bench.analysis.diff import diff_dirs

    with human_output(args.json):
        result = diff_dirs(args.a, args.b)
        for w in result.warnings():
            print(f"bench diff: warning: {w}", file=sys.stderr)
        if not args.quiet:
            print_diff(result)
        print(verdict_line(result))
    emit(document(result), args.json)
    return 1 if result.regressions() else 0
