"""The report document: header and verdict (report.header), root-cause matrix, hypotheses, cost
(report.cost_table), plots, findings, probe notes. Pure: a Diagnosis and the pieces computed from
it in, markdown text out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.diagnose import Diagnosis
from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings import storage_bound
from bench.report import cells as c
from bench.report import matrix, nodes, watch
from bench.report.cost import Catalog, MeasuredCost, ProjectedCost, ScalingModel
from bench.report.cost_table import cost_section
from bench.report.header import footer, header
from bench.report.hypotheses import INCONCLUSIVE, NOT_TESTED, PROVEN, REFUTED, Hypothesis
from bench.report.links import runbook_link

VERDICT_MARK = {PROVEN: c.GOOD, REFUTED: c.BAD, INCONCLUSIVE: c.WARN, NOT_TESTED: "·"}


@dataclass(frozen=True)
class ReportParts:
    """Everything the document shows, computed before rendering so tests can check the numbers."""

    diagnosis: Diagnosis
    matrix: list[matrix.MatrixRow]
    hypotheses: list[Hypothesis]
    measured: list[MeasuredCost]
    projected: list[ProjectedCost]
    catalog: Catalog
    catalog_source: str
    model: ScalingModel
    price_per_hour: float | None
    plots: dict[str, Path]
    report_dir: Path


def matrix_section(p: ReportParts) -> str:
    cores = p.diagnosis.recorded.usable_cores
    out = [
        "## Root-cause matrix",
        "",
        matrix.render(p.matrix),
        "",
        f"Worker processes: expected for the strategy · most busy at once in the process-tree "
        f"samples (≥ {th.BUSY_PROCESS_MIN_PCT:.0f}% of a core; for process strategies the parent "
        "that only asks and tells is not counted) · distinct pids in the trial records. Runnable "
        f"threads: ran ≥ {th.RUNNABLE_THREAD_MIN_PCT:.0f}% of a core in a sample, median over the "
        "trials, per usable core. CPU use: mean over the trials and peak sample, 100% = all "
        f"{cores} usable cores. Useful efficiency = speedup / workers, from completed trials per "
        "second (never from CPU%). Storage: the Optuna storage backend, and the wall time of its "
        "calls (ask, suggest, report, tell) summed over the trials, as a share of the time of "
        "the threads that make them over the trials (each worker for optuna-journal and "
        "optuna-threads, the parent for ask/tell strategies) and per trial; "
        f"{c.WARN} from {storage_bound.STORAGE_SHARE_MIN:.0%}, "
        f"{c.BAD} from {storage_bound.STORAGE_SHARE_ERROR:.0%} (STORAGE_BOUND).",
    ]
    cluster = matrix.cluster_notes(p.matrix)
    if cluster:
        out += ["", *cluster]
    down = [r for r in p.matrix if r.status != "ok"]
    if down:
        out += ["", "Runs that did not complete:"]
        out += [f"- `{r.label}`: {r.status}" + (f": {c.md(r.reason)}" if r.reason else "") for r in down]
    out += node_sections(p.diagnosis)
    return "\n".join(out)


def node_sections(d: Diagnosis) -> list[str]:
    """Per-node rows of each run that spanned more than one Ray node (nothing otherwise)."""
    out: list[str] = []
    rec = d.recorded
    for label in rec.labels:
        trials = rec.trials.get(label, [])
        rs = nodes.rows(rec.samples.get(label, []), trials)
        if len(rs) > 1:
            out += ["", f"### Ray nodes of `{label}`", "", nodes.render(rs, nodes.without_node(trials))]
    return out


def hypotheses_section(hs: Sequence[Hypothesis]) -> str:
    rows = [
        [
            h.claim,
            f"{VERDICT_MARK[h.verdict]} {h.verdict}",
            ", ".join(f"`{r}`" for r in h.rows) or c.NA,
            h.evidence,
        ]
        for h in hs
    ]
    return "\n".join(
        [
            "## Hypotheses",
            "",
            c.table(("hypothesis", "verdict", "deciding rows", "evidence"), rows),
            "",
            "A hypothesis is decided only by the runs that test it; without them it is "
            "*not tested*. *Inconclusive*: those runs ran but their figures do not settle it.",
        ]
    )


def plots_section(p: ReportParts) -> str:
    if not p.plots:
        return "## Plots\n\nNo process-tree samples or completed trials to plot."
    captions = {
        "cpu": "CPU use over time per run, against the capacity line (shaded: trials running)",
        "threads": "Threads alive and runnable over time per run, against the usable cores",
        "throughput": "Useful throughput per run (completed trials per minute), ideal marked",
    }
    out = ["## Plots", ""]
    for name, path in p.plots.items():
        out += [f"![{captions.get(name, name)}]({path.name})", ""]
    return "\n".join(out).rstrip()


def findings_section(p: ReportParts) -> str:
    d = p.diagnosis
    out = ["## Findings"]
    for label in d.recorded.labels:
        fs = d.findings.get(label, [])
        if not fs:
            continue
        out += ["", f"### `{label}`", ""]
        for f in fs:
            ev = ", ".join(f"{k}={_ev(v)}" for k, v in f.evidence.items() if v is not None)
            out += [
                f"- {c.SEVERITY_MARK[f.severity]} **{f.code}**: {f.explanation}",
                f"  - *Next:* {f.action}",
                f"  - *Evidence:* {c.md(ev, code=True, limit=2000)}",
                f"  - *Runbook:* {runbook_link(f.runbook, p.report_dir)}",
            ]
    if len(out) == 1:
        out += ["", "No findings: no run recorded enough data to diagnose."]
    return "\n".join(out)


def _ev(v: object) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {x}" for k, x in v.items()) + "}"
    return str(v)


def notes_section(p: ReportParts) -> str:
    d = p.diagnosis
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for n in d.recorded.notes:
        key = (
            str(n.get("level") or "info"),
            str(n.get("probe") or "probe"),
            c.md(n.get("message") or ""),
        )
        runs = grouped.setdefault(key, [])
        if n.get("run") and str(n["run"]) not in runs:
            runs.append(str(n["run"]))
    lines = []
    for (level, probe, message), runs in grouped.items():
        mark = {"error": c.BAD, "warning": c.WARN}.get(level, c.INFO)
        where = f" (runs: {', '.join(f'`{r}`' for r in runs)})" if runs else ""
        lines.append(f"- {mark} **{probe}** ({level}): {message}{where}")
    if not any(obs.stacks for obs in d.observations.values()) and d.observations:
        lines.append(
            f"- {c.WARN} **report**: no stack samples in this results directory, so thread states "
            "(holding / waiting for the GIL) are unknown; GIL_BOUND can only be inferred from CPU."
        )
    return "## Probe notes\n\n" + ("\n".join(lines) if lines else "None: every probe ran as asked.")


def render(p: ReportParts) -> str:
    from bench.report import live

    d = p.diagnosis
    if live.is_live(d):  # a job watched from outside: no strategies to compare
        return live.render(p)
    watched = watch.is_watch(d)
    sections = [
        header(d),
        *([watch.section(d, p.price_per_hour)] if watched else []),
        matrix_section(p),
        # The hypotheses are decided by strategy rows a watch does not have.
        *([] if watched else [hypotheses_section(p.hypotheses)]),
        cost_section(p),
        plots_section(p),
        findings_section(p),
        notes_section(p),
        footer(d),
    ]
    return "\n\n".join(sections) + "\n"
