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


def headline(e: Mapping[str, Any]) -> str:
    """This finding as a clause of the verdict."""
    return "is healthy"


SPEC = FindingSpec(CODE, (), headline, RUNBOOK)
