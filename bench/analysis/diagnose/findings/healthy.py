"""HEALTHY: No problem found and the useful efficiency is good.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

from bench.analysis.diagnose.findings.contended import CODE as CONTENDED  # noqa: E402

CODE = "HEALTHY"
RUNBOOK = "runbooks/HEALTHY.md"
# A watched program (no sequential baseline) is HEALTHY when its own processes keep at least this
# share of the usable cores busy while its trials complete.
HEALTHY_MIN_CPU_SHARE = 0.7


def rule(obs: Observation, ctx: RunContext, others: list[Finding]) -> Finding | None:
    """No problem found and the useful efficiency is good (the baseline is healthy by design).
    CONTENDED does not count: it is about the machine, and stands beside HEALTHY as a caution."""
    problems = [f for f in others if f.severity in (ERROR, WARNING) and f.code != CONTENDED]
    if ctx.status != "ok" or problems:
        return None
    if ctx.kind == "inline":
        return Finding(
            CODE,
            OK,
            ctx.label,
            {"trials_done": obs.trials_complete, "busy_processes_peak": obs.busy_procs_peak},
            "The sequential baseline: one trial at a time in one process, as designed. Every "
            "speedup in this report is measured against it.",
            "Nothing to change; it is the yardstick.",
        )
    eff = ctx.efficiency
    if eff is None and ctx.own_program:
        return _own_program(obs, ctx)
    if eff is None or eff < th.HEALTHY_MIN_EFFICIENCY:
        return None
    ev = {
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
    ev = {
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


def headline(e: Mapping[str, Any]) -> str:
    """This finding as a clause of the verdict."""
    return "is healthy"


SPEC = FindingSpec(CODE, (), headline, RUNBOOK)
