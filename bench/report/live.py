"""The report of a live process (bench attach, bench watch): the same findings, evidence, runbook
links, probe notes and plots as a compare report, with a verdict about one job instead of a
comparison of strategies (there is no matrix, hypothesis or cost table to fill).

diagnose_live(results_dir) -> (Diagnosis, findings, verdict)   the diagnosis alone (no files)
report_live(results_dir) -> LiveReport   diagnose a live results directory, write its report.md
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.analysis.diagnose import Diagnosis, Finding
from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose.findings import headline
from bench.report import cells as c

if TYPE_CHECKING:
    from bench.report.markdown import ReportParts

_PROBLEM = (F.ERROR, F.WARNING)


@dataclass(frozen=True)
class LiveReport:
    """What a live diagnosis found, its one-line verdict, and where the report was written."""

    findings: list[Finding]
    verdict: str
    path: Path


def is_live(d: Diagnosis) -> bool:
    """A results directory of live processes only (every run attached to from outside; a
    `bench watch` of the user's program has its own report, bench.report.watch)."""
    return bool(d.contexts) and all(
        ctx.live and not ctx.own_program for ctx in d.contexts.values()
    )


def verdict_line(d: Diagnosis, label: str) -> str:
    """The verdict on one live job, first thing a person reads: the root cause or HEALTHY, or
    inconclusive with the reason."""
    fs = d.findings.get(label, [])
    problems = [f for f in fs if f.severity in _PROBLEM and f.code != F.CONTENDED]
    if problems:
        top = problems[0]
        also = [f.code for f in problems[1:]]
        text = f"**{top.code}**: `{label}` {headline(top)}. {top.explanation}"
        if also:
            text += f" Also: {', '.join(also)}."
        return text
    ok = next((f for f in fs if f.code == F.HEALTHY), None)
    if ok is not None:
        text = f"**HEALTHY**: {ok.explanation}"
    else:
        obs = d.observations.get(label)
        why = "no process-tree samples" if obs is None or not obs.tree_samples else (
            f"{obs.tree_samples} tree samples, {sum(s.samples for s in obs.stacks)} stack dumps; "
            f"runnable threads per core {c.num(obs.runnable_per_core)}, "
            f"{c.num(obs.cpu_cores_mean)} of {obs.usable_cores} cores busy"
        )
        text = (
            "**Inconclusive**: no rule found a problem, and the samples do not show a job that "
            f"fills its cores either ({why}). Watch longer (`--duration`, `--until-exit`), with "
            "stacks (py-spy), while the job does its main work."
        )
    if any(f.code == F.CONTENDED for f in fs):
        text += (
            " **Caution (CONTENDED):** other processes took a large share of the cores while it "
            "was watched."
        )
    return text


def header(d: Diagnosis) -> str:
    meta = d.recorded.meta
    m = d.recorded.machine
    title = d.recorded.path.name if d.recorded.path else str(meta.get("pid", ""))
    lines = [f"# corebench report: {title}", ""]
    for label in d.recorded.labels:
        lines += [verdict_line(d, label), ""]
    duration = meta.get("duration")
    lines += [
        f"- **Job:** pid {meta.get('pid', '?')}: `{c.esc(str(meta.get('cmdline') or '?'))}`",
        f"- **Watched:** {c.num(duration)} s"
        + (" (until it exited)" if meta.get("until_exit") else "")
        + (", interrupted (Ctrl-C)" if meta.get("interrupted") else "")
        + f"; tree samples every {meta.get('interval', '?')} s, stacks "
        + (f"every {meta.get('stack_interval', '?')} s" if meta.get("stacks") else "off"),
        f"- **Machine:** {m.get('cpu_model', '?')}; {m.get('usable_cores', '?')} usable cores for "
        f"this job ({m.get('logical_cores', '?')} logical"
        + (f", CPU quota {m['cgroup_cpu_limit']:g}" if m.get("cgroup_cpu_limit") else "")
        + ")",
    ]
    return "\n".join(lines)


def summary_section(d: Diagnosis) -> str:
    """What the probes saw, in the figures the rules read."""
    out = ["## Summary", "", "| | |", "|---|---|"]
    for label in d.recorded.labels:
        o = d.observations[label]
        rows = [
            ("processes (peak busy / seen)", f"{o.busy_procs_peak} / {o.procs_seen}"),
            ("threads (peak total / per process)", f"{o.threads_peak_total} / {o.threads_peak_per_proc}"),
            ("cores busy (mean, of usable)", f"{c.num(o.cpu_cores_mean)} of {o.usable_cores}"),
            ("runnable threads (median, per core)",
             f"{c.num(o.runnable_threads_median)} ({c.num(o.runnable_per_core)} per core)"),
            ("preemptions per core per second", c.num(o.invol_per_core_s, 0)),
            ("other processes' cores (mean)", c.num(o.foreign_cores_mean)),
            ("the probes' own cores (mean)", c.num(o.observer_cores_mean)),
            ("steal", "n/a" if o.steal_share is None else f"{o.steal_share:.1%}"),
        ]
        if o.cpu_quota is not None:
            rows.append(("CPU quota / throttled periods",
                         f"{o.cpu_quota:g} / {o.throttled_periods} of {o.throttle_periods}"))
        dumps = sum(s.samples for s in o.stacks)
        rows.append(("stack dumps", str(dumps)))
        if o.pools:
            rows.append(("thread pools loaded", ", ".join(o.pools)))
        out += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(out)


def parts(d: Diagnosis, report_dir: Path) -> ReportParts:
    """The report parts of a live job: no matrix, hypotheses, costs or catalog to compute."""
    from bench.analysis.cost.catalog import Catalog
    from bench.report import cost
    from bench.report.markdown import ReportParts

    return ReportParts(d, [], [], [], [], Catalog((), ""), "", cost.DefaultModel(d.recorded.machine),
                       None, {}, report_dir)


def render(p: ReportParts) -> str:
    """The markdown of a live results directory (compare's sections where they apply)."""
    from bench.report.header import footer
    from bench.report.markdown import findings_section, notes_section, plots_section

    d = p.diagnosis
    sections = [
        header(d),
        summary_section(d),
        findings_section(p),
        plots_section(p),
        notes_section(p),
        footer(d),
    ]
    return "\n\n".join(sections) + "\n"


def diagnose_live(results_dir: str | Path) -> tuple[Diagnosis, list[Finding], str]:
    """The diagnosis of a live results directory (run.json, samples.jsonl, trials.jsonl if
    traced, one runs.jsonl record with status "live"), its first job's findings and verdict."""
    from bench.analysis.diagnose import Recorded, analyse

    d = analyse(Recorded.load(results_dir))
    label = d.recorded.labels[0] if d.recorded.labels else ""
    return d, d.findings.get(label, []), verdict_line(d, label)


def report_live(
    results_dir: str | Path, out: str | Path | None = None, diagnosis: Diagnosis | None = None
) -> LiveReport:
    """Diagnose a live results directory (unless `diagnosis` is given) and write its report.md
    and plots: what `bench attach` and `bench watch` call when the watch ends."""
    from bench.report import write_report

    if diagnosis is None:
        diagnosis = diagnose_live(results_dir)[0]
    d = diagnosis
    path = write_report(results_dir, out, diagnosis=d)
    label = d.recorded.labels[0] if d.recorded.labels else ""
    return LiveReport(d.findings.get(label, []), verdict_line(d, label), path)
