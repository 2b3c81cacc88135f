"""HEALTHY: No problem found and the useful efficiency is good.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict

from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings._base import (
    ERROR,
    OK,
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    r,
)
from bench.records.kinds import Kind

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

from bench.analysis.diagnose.findings.contended import CODE as CONTENDED  # noqa: E402
from bench.analysis.diagnose.findings.contended import is_contended  # noqa: E402

CODE = "HEALTHY"
RUNBOOK = "runbooks/HEALTHY.md"
# A watched program (no sequential baseline) is HEALTHY when its own processes keep at least this
# share of the usable cores busy while its trials complete; a live job (or a watch without trial
# records), this share of the cores that other processes left it.
HEALTHY_MIN_CPU_SHARE = 0.7
# Live: runnable threads per usable core (median) from which the job's shape fills the machine;
# below, UNDERSUBSCRIBED speaks; from OVERSUBSCRIBED's bar up, threads queue.
LIVE_RUNNABLE_PER_CORE_MIN = 0.75


class Evidence(TypedDict, total=False):
    """What HEALTHY records; each arm (the sequential baseline, a run with a baseline, a watched
    program, a live job) writes its own few of these."""

    trials_done: int
    busy_processes_peak: int
    efficiency: float | None
    speedup: float | None
    cpu_share: float | None
    cpu_cores_mean: float | None
    usable_cores: int
    trials_in_flight_peak: int
    working_processes: int
    runnable_per_core: float | None
    foreign_cores_mean: float | None


def rule(obs: Observation, ctx: RunContext, others: list[Finding]) -> Finding | None:
    """No problem found and the useful efficiency is good (the baseline is healthy by design).

    CONTENDED is about the machine, not the strategy: it stands beside the baseline's HEALTHY, a
    watched program's and a live job's as a caution. But a useful efficiency measured while the
    run or its sequential baseline shared the machine is not evidence of health: a contended
    baseline inflates it (optuna-threads, GIL-bound, measured 135% "efficient" against a
    sequential run slowed by two CPU hogs), and load hides what the other rules look for (threads
    queue for a CPU, not the GIL). Such a run gets no HEALTHY; CONTENDED says why."""
    problems = [f for f in others if f.severity in (ERROR, WARNING) and f.code != CONTENDED]
    if problems:
        return None
    if ctx.live:
        return _live(obs, ctx, others)
    if ctx.status != "ok":
        return None
    if ctx.kind == Kind.INLINE:
        ev: Evidence = {"trials_done": obs.trials_complete, "busy_processes_peak": obs.busy_procs_peak}
        return Finding(
            CODE,
            OK,
            ctx.label,
            ev,
            "The sequential baseline: one trial at a time in one process, as designed. Every "
            "speedup in this report is measured against it.",
            "Nothing to change; it is the yardstick.",
        )
    eff = ctx.efficiency
    if eff is None and ctx.own_program:
        return _own_program(obs, ctx)
    if eff is None or eff < th.HEALTHY_MIN_EFFICIENCY:
        return None
    if any(f.code == CONTENDED for f in others) or (
        ctx.baseline_obs is not None and is_contended(ctx.baseline_obs)
    ):
        return None
    ev = {  # an Evidence, as declared in the arm above
        "efficiency": r(eff),
        "speedup": r(ctx.summary.speedup if ctx.summary else None),
        "busy_processes_peak": obs.busy_procs_peak,
        "cpu_share": r(obs.cpu_share),
    }
    return Finding(
        CODE,
        OK,
        ctx.label,
        ev,
        f"Useful efficiency {eff:.0%} with {obs.busy_procs_peak} busy worker process(es); no "
        "rule found a problem.",
        "Keep it this way: guard the speedup in CI with `bench gate`.",
    )


def _own_program(obs: Observation, ctx: RunContext) -> Finding | None:
    """A watched program has no sequential run to measure useful efficiency against: it is
    healthy when its trials completed while its own processes kept most usable cores busy."""
    share = obs.cpu_share
    if not obs.trials_complete or share is None or share < HEALTHY_MIN_CPU_SHARE:
        return None
    ev: Evidence = {
        "cpu_share": r(share),
        "cpu_cores_mean": r(obs.cpu_cores_mean),
        "usable_cores": obs.usable_cores,
        "busy_processes_peak": obs.busy_procs_peak,
        "trials_done": obs.trials_complete,
        "trials_in_flight_peak": obs.inflight_peak,
    }
    return Finding(
        CODE,
        OK,
        ctx.label,
        ev,
        f"{obs.trials_complete} trials completed, up to {obs.inflight_peak} at once, while "
        f"{obs.busy_procs_peak} busy process(es) kept a mean {obs.cpu_cores_mean or 0:.1f} of "
        f"{obs.usable_cores} usable cores busy ({share:.0%}); no rule found a problem. There is no "
        "sequential run here, so useful efficiency (speedup per worker) is not measured.",
        "Keep it this way: guard it in CI with `bench gate` on a short `bench watch` of the search.",
    )


def _live(obs: Observation, ctx: RunContext, others: list[Finding]) -> Finding | None:
    """A live job with no problem found whose runnable threads fill the usable cores without
    queueing and that used CPU (a busy loop's stack may look the same in every dump: unmoved
    stacks say "stalled" only without CPU, which STALLED judges)."""
    from bench.analysis.diagnose.findings.oversubscribed import OVERSUB_THREADS_PER_CORE

    per_core, cpu = obs.runnable_per_core, obs.cpu_cores_mean
    if per_core is None or cpu is None or cpu <= 0:
        return None
    if not LIVE_RUNNABLE_PER_CORE_MIN <= per_core < OVERSUB_THREADS_PER_CORE:
        return None
    # Runnable threads are a shape, not a use: two workers that each sleep a third of the time
    # are "runnable" in every sample while a third of the cores sits idle. The job must also
    # keep busy HEALTHY_MIN_CPU_SHARE of the cores other jobs left it. The probes' own CPU is not
    # taken off: much of it fills cores the job left idle (bench watch imports the report's
    # plotting library at nice 19 while the program runs: 0.5-0.6 cores of a 5 s watch).
    left = obs.usable_cores - (obs.foreign_cores_mean or 0.0)
    if cpu < HEALTHY_MIN_CPU_SHARE * max(left, 0.0):
        return None
    workers = round(obs.working_procs_median or 0)
    contended = any(f.code == CONTENDED for f in others)
    ev: Evidence = {
        "working_processes": workers,
        "cpu_cores_mean": r(cpu),
        "usable_cores": obs.usable_cores,
        "runnable_per_core": r(per_core),
        "foreign_cores_mean": r(obs.foreign_cores_mean),
    }
    others_took = (
        f" (other processes kept {obs.foreign_cores_mean or 0:.1f} cores busy: see CONTENDED)"
        if contended else ""
    )
    return Finding(
        CODE,
        OK,
        ctx.label,
        ev,
        f"{workers} busy worker process(es) keep {cpu:.1f} of {obs.usable_cores} usable cores busy"
        f"{others_took} with {per_core:.1f} runnable thread(s) per core; nothing wrong seen.",
        "Nothing to change. To guard it, run the same search under `bench compare` and gate its "
        "speedup in CI with `bench gate`.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict."""
    return "is healthy"


SPEC = FindingSpec(CODE, (), headline, RUNBOOK)
