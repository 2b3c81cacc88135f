"""Diagnosis: named findings from recorded samples, trials and heartbeats, with their evidence.

diagnose(results_dir)            every finding of a saved results directory
diagnose_run(recorded, label)    the findings of one run
diagnose_samples(samples, meta)  findings from probe samples alone (a live process: bench attach)
run_metrics(results_dir)         per-run figures a regression gate compares
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose.findings import CODES, Finding, RunContext, apply, by_priority, runbook_for
from bench.analysis.diagnose.observe import Observation, observe
from bench.analysis.diagnose.recorded import Recorded
from bench.records.kinds import WORKER_KINDS, Kind
from bench.records.schema import Sample, TrialRow

__all__ = [
    "CODES",
    "Diagnosis",
    "Finding",
    "Observation",
    "Recorded",
    "analyse",
    "by_priority",
    "diagnose",
    "diagnose_run",
    "diagnose_samples",
    "expected_processes",
    "run_metrics",
    "runbook_for",
]


# The status of a run that is a live process watched from outside (attach, watch).
LIVE = "live"


def expected_processes(kind: str, workers: int) -> int | None:
    """Worker processes a strategy should show: one for inline and threads, W for the others."""
    if kind in (Kind.INLINE, Kind.THREADS):
        return 1
    if kind in WORKER_KINDS:
        return workers
    return None


@dataclass(frozen=True)
class Diagnosis:
    """A results directory with every run's observation, comparison context and findings."""

    recorded: Recorded
    observations: dict[str, Observation]
    contexts: dict[str, RunContext]
    findings: dict[str, list[Finding]]

    def all_findings(self) -> list[Finding]:
        return [f for label in self.recorded.labels for f in self.findings.get(label, [])]

    def processes_seen(self, label: str) -> int:
        """Busy worker processes at once: the root counts for inline/threads runs, not for others
        (there it only asks and tells); trial pids stand in when no tree sample was taken."""
        obs, ctx = self.observations[label], self.contexts[label]
        if not obs.tree_samples:
            return obs.trial_pids
        return obs.busy_children_peak if ctx.kind in WORKER_KINDS else obs.busy_procs_peak


def _limited_sibling(rec: Recorded, label: str) -> Any:
    """For an unlimited-threads run: the same strategy and start method with a thread limit."""
    me = rec.runs.get(label) or {}
    if me.get("threads_policy") != "unlimited":
        return None
    candidates = []
    for other, r in rec.runs.items():
        s = rec.summaries.get(other)
        if (
            other != label
            and s is not None
            and s.throughput
            and r.get("status") == "ok"
            and r.get("strategy") == me.get("strategy")
            and r.get("start_method") == me.get("start_method")
            and r.get("threads_policy") not in (None, "", "unlimited")
        ):
            candidates.append((r.get("threads_policy") != "auto", other, s))
    return min(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None


def analyse(rec: Recorded) -> Diagnosis:
    """Observe every run, give each its comparison context, and apply the rules."""
    cores = rec.usable_cores
    observations = {
        label: observe(
            label,
            rec.samples.get(label, []),
            cores,
            rec.trials.get(label, []),
            rec.heartbeats.get(label, []),
            rec.runs.get(label),
            [n for n in rec.notes if n.get("run") == label],
        )
        for label in rec.labels
    }
    baseline = next(
        (s for s in rec.summaries.values() if s.strategy == "sequential" and s.throughput), None
    )
    contexts: dict[str, RunContext] = {}
    findings: dict[str, list[Finding]] = {}
    for label in rec.labels:
        run = rec.runs.get(label) or {}
        s = rec.summaries.get(label)
        kind = rec.kind(label)
        # A planned run that never wrote its record still had a worker count: the config's.
        planned = 1 if kind == Kind.INLINE else int(rec.config.get("workers") or 1)
        # Without trial records (a watched program that never imported Optuna) the evidence is
        # the samples alone, as for a live process: each rule judges from them.
        traced = run.get("trials_traced") is not False
        ctx = RunContext(
            label=label,
            kind=kind,
            workers=int(run.get("workers") or planned),
            status=str(run.get("status") or "not run"),
            summary=s,
            baseline=baseline,
            baseline_obs=observations.get(baseline.label) if baseline else None,
            limited=_limited_sibling(rec, label),
            own_program=run.get("strategy") == "watch",
            live=run.get("status") == LIVE or not traced,
        )
        contexts[label] = ctx
        # A run that never ran trials (unavailable, skipped) has nothing to diagnose.
        ran = observations[label].trials_ran or rec.heartbeats.get(label) or rec.samples.get(label)
        findings[label] = apply(observations[label], ctx) if ran else []
    return Diagnosis(rec, observations, contexts, findings)


def diagnose(results_dir: str | Path) -> list[Finding]:
    """Every finding of a saved results directory, run by run in plan order."""
    return analyse(Recorded.load(results_dir)).all_findings()


def diagnose_run(rec: Recorded, label: str) -> list[Finding]:
    """The findings of one run of a loaded results directory (root cause first)."""
    return analyse(rec).findings.get(label, [])


def diagnose_samples(
    samples: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any],
    trials: Sequence[Mapping[str, Any]] = (),
) -> list[Finding]:
    """Findings of a live process (bench attach, bench watch) from its probe samples and the trial
    records it traced, if any: the same rules as a recorded run, judging from that evidence.

    `meta` is a run.json-like dict (its "machine" is used) or a machine fingerprint itself. The
    target's usable cores are the samples' (its affinity and cgroup quota), else the machine's.
    """
    machine = meta["machine"] if isinstance(meta.get("machine"), dict) else meta
    tagged = next((s.get("usable_cores") for s in samples if s.get("usable_cores")), None)
    cores = int(tagged or machine.get("usable_cores") or 1)
    label = next((str(s["run"]) for s in samples if s.get("run")), None)
    if label is None:
        root = meta.get("pid") or next(
            (s.get("root") or s.get("pid") for s in samples if s.get("kind") in ("tree", "stack")),
            "?",
        )
        label = f"pid {root}"
    # Live samples straight from the probes: of the shapes the records loader checks.
    typed = cast(Sequence[Sample], samples)
    notes = [s for s in typed if s.get("kind") == "note"]
    obs = observe(label, [s for s in typed if s.get("kind") != "note"], cores,
                  cast(Sequence[TrialRow], trials), notes=notes)
    ctx = RunContext(label=label, kind="unknown", workers=1, status=LIVE, live=True)
    return apply(obs, ctx)


def run_metrics(results_dir: str | Path | Recorded | Diagnosis) -> dict[str, dict[str, Any]]:
    """Per run: the ratios and facts a gate compares (speedup, efficiency, processes, findings)."""
    if isinstance(results_dir, Diagnosis):
        d = results_dir
    else:
        d = analyse(
            results_dir if isinstance(results_dir, Recorded) else Recorded.load(results_dir)
        )
    out: dict[str, dict[str, Any]] = {}
    for label in d.recorded.labels:
        s = d.recorded.summaries.get(label)
        ctx, obs = d.contexts[label], d.observations[label]
        out[label] = {
            "status": ctx.status,
            "strategy": s.strategy if s else (d.recorded.runs.get(label) or {}).get("strategy"),
            "kind": ctx.kind,
            "workers": ctx.workers,
            "threads": s.threads if s else None,
            "start_method": s.start_method if s else None,
            "trials_done": s.trials_done if s else obs.trials_complete,
            "throughput": s.throughput if s else None,
            "speedup": s.speedup if s else None,
            "efficiency": s.efficiency if s else None,
            "wall_speedup": s.wall_speedup if s else None,
            "wall": s.wall if s else None,
            "processes_expected": expected_processes(ctx.kind, ctx.workers),
            "processes_seen": d.processes_seen(label),
            "trial_pids": obs.trial_pids,
            "cpu_share": obs.cpu_share,
            "foreign_share": obs.foreign_share,  # of the cores, taken by others (CONTENDED)
            "findings": [f.code for f in d.findings.get(label, [])],
            "root_cause": next(
                (f.code for f in d.findings.get(label, []) if f.severity in (F.ERROR, F.WARNING)),
                None,
            ),
        }
    return out
