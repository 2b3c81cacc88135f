"""The report document: header and verdict, root-cause matrix, hypotheses, cost, plots, findings,
probe notes. Pure: a Diagnosis and the pieces computed from it in, markdown text out."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import __version__
from bench.analysis.diagnose import Diagnosis
from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings import storage_bound
from bench.records.schema import RunRow
from bench.report import cells as c
from bench.report import matrix, nodes, watch
from bench.report.cost import TRIALS_PER_QUOTE, Catalog, MeasuredCost, ProjectedCost, ScalingModel
from bench.report.cost_table import projected_section
from bench.report.hypotheses import INCONCLUSIVE, NOT_TESTED, PROVEN, REFUTED, Hypothesis
from bench.report.links import runbook_link
from bench.report.verdict import verdict

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


def _when(ts: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError):
        return "unknown"


def _gib(n: Any) -> str:
    return f"{n / 2**30:.1f} GiB" if isinstance(n, int) and n else "?"


def _q(d: Mapping[str, Any], key: str, code: bool = False) -> str:
    """A value for the header, escaped (it comes from run.json), "?" when missing."""
    v = d.get(key)
    return c.md("?" if v is None else v, code=code)


def _command(argv: Any) -> str:
    """The command line as a user would type it (`bench ...`, not the module path)."""
    if not isinstance(argv, list) or not argv:
        return str(argv or "")
    head = Path(str(argv[0])).name
    words = ["bench", *argv[1:]] if head in ("bench", "__main__.py") else argv
    return shlex.join(str(x) for x in words)


def header(d: Diagnosis) -> str:
    meta = d.recorded.meta
    m, cfg = d.recorded.machine, d.recorded.config
    git = meta.get("git") or {}
    commit = git.get("commit")
    dirty = {"True": " (dirty: uncommitted changes)", "False": ""}.get(
        str(git.get("dirty")), " (dirty: unknown)"
    )
    versions = m.get("versions") or {}
    shown = ("torch", "optuna", "joblib", "ray", "numpy")
    libs = c.md(", ".join(f"{k} {v}" for k, v in versions.items() if v and k in shown))
    env = m.get("thread_env") or {}
    env_text = c.md(", ".join(f"{k}={v}" for k, v in env.items()) or "none set")
    smt = {"True": "SMT on", "False": "no SMT"}.get(str(m.get("smt")), "SMT unknown")
    cmd = _command(meta.get("command"))
    if cfg.get("objective"):
        workload = f"user objective {_q(cfg, 'objective', code=True)}"
    else:
        workload = (
            f"GA {_q(cfg, 'generations')} generations × {_q(cfg, 'seeds')} seed(s), population "
            f"{_q(cfg, 'population')}, mode {_q(cfg, 'mode', code=True)}"
        )
    title = d.recorded.path.name if d.recorded.path else meta.get("run_id", "")
    lines = [
        f"# corebench report: {c.md(title)}",
        "",
        verdict(d),
        "",
        f"- **Machine:** {_q(m, 'cpu_model')}; {_q(m, 'usable_cores')} usable cores "
        f"({_q(m, 'logical_cores')} logical, {_q(m, 'physical_cores')} physical, {smt}); "
        f"{_gib(m.get('memory_bytes'))}; fingerprint {_q(m, 'id', code=True)}",
        f"- **Software:** Python {_q(m, 'python')}; {libs or 'versions unknown'}; "
        f"torch threads {_q(m, 'torch_threads')}; thread env: {env_text}",
        f"- **Search:** {_q(cfg, 'trials')} trials of {workload}; {_q(cfg, 'workers')} workers, "
        f"threads {_q(cfg, 'threads', code=True)}, start method {_q(cfg, 'start_method', code=True)}, "
        f"sampler {_q(cfg, 'sampler', code=True)}"
        + (f", pruner {_q(cfg, 'pruner', code=True)}" if cfg.get("pruner") not in (None, "none") else "")
        + f" (preset {_q(cfg, 'preset', code=True)}){_params_paths(d.recorded.runs)}",
        f"- **Date:** {_when(meta.get('created'))}; **commit:** "
        + (f"{c.md(str(commit)[:12], code=True)}{dirty}" if commit else "not a git checkout")
        + f"; corebench {_q(meta, 'corebench_version')}",
    ]
    if watch.is_watch(d):
        # A watched program is the user's own: there is no bench search config to show.
        lines = [x for x in lines if not x.startswith("- **Search:**")]
    if cmd:
        lines.append(f"- **Command:** {c.md(cmd, code=True, limit=2000)}")
    return "\n".join(lines)


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


_PATHS = {
    "declared": "sampled in the parent from the declared search space (no round trip per param)",
    "define-by-run": "define-by-run, each suggest_* decided by the parent's study (its sampler, its pruner)",
}


def _params_paths(runs: Mapping[str, RunRow]) -> str:
    """Which way each run's parameters were chosen (runs recorded before this field: nothing)."""
    by_path: dict[str, list[str]] = {}
    for label, rec in runs.items():
        if rec.get("params_path") and rec.get("status") != "unavailable":
            by_path.setdefault(str(rec["params_path"]), []).append(label)
    if not by_path:
        return ""
    if len(by_path) == 1:
        return f"; parameters {_PATHS.get(next(iter(by_path)), next(iter(by_path)))}"
    parts = [f"{_PATHS.get(k, k)}: " + ", ".join(f"`{x}`" for x in v) for k, v in by_path.items()]
    return "; parameters " + "; ".join(parts)


def _throughput(per_s: float | None, evals_per_trial: int | None) -> str:
    if per_s is None:
        return c.NA
    text = f"{per_s * 60:.1f} trials/min"
    if evals_per_trial:
        text += f" · {per_s * evals_per_trial:,.0f} evals/s"
    return text


def cost_section(p: ReportParts) -> str:
    price = p.price_per_hour
    q = TRIALS_PER_QUOTE
    here = (
        f"$ / {q} trials here at ${price:g}/h (measured)"
        if price
        else f"$ / {q} trials here (measured)"
    )
    evals = p.diagnosis.recorded.evaluations_per_trial
    measured_rows = [
        [
            f"`{m.label}`",
            m.kind,
            _throughput(m.throughput, evals),
            c.num(m.core_s_per_trial, 2),
            c.pct(m.efficiency),
            c.seconds(m.wall_per_quote_s),
            c.usd(m.usd_per_quote),
        ]
        for m in p.measured
    ]
    out = [
        "## Cost",
        "",
        "### Measured on this machine",
        "",
        c.table(
            (
                "run",
                "runs trials as",
                "useful throughput (measured)",
                "CPU core-s / trial (measured)",
                "useful efficiency (measured)",
                f"wall / {q} trials here (measured)",
                here,
            ),
            measured_rows,
            right=(2, 3, 4, 5, 6),
        ),
        "",
        "Useful throughput: completed (or pruned) trials"
        + (" (and the GA fitness evaluations they hold)" if evals else "")
        + " per unit of time over the trials. CPU core-seconds per trial: the process-tree samples' CPU over "
        f"the trials divided by completed trials. Wall per {q} trials: the run's start-up + {q} / "
        "(completed trials per second over the trials). "
        + (
            f"Cost at ${price:g} per hour for this machine."
            if price
            else "No price for this machine: pass `--price-per-hour X`."
        ),
    ]
    if p.catalog.vms and p.projected:
        out += ["", *projected_section(p)]
    return "\n".join(out)


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


def _ev(v: Any) -> str:
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


def footer(d: Diagnosis) -> str:
    src = d.recorded.path
    return f"---\nGenerated by corebench {__version__} from saved results only" + (
        f"; regenerate with {c.md(f'bench report {src}', code=True, limit=2000)}." if src else "."
    )


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
