"""SPIN_WAIT: Busy CPU that does no useful work (OpenMP/BLAS helpers spinning).

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench.analysis.diagnose.findings._base import (
    Finding,
    FindingSpec,
    RunContext,
    efficiency_note,
    num,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "SPIN_WAIT"
RUNBOOK = "runbooks/SPIN_WAIT.md"

# CPU use (share of capacity, work phase) that counts as "the cores look busy".
SPIN_MIN_CPU_SHARE = 0.5
# CPU core-seconds per completed trial at least this many times the sequential run's: the extra
# CPU did no useful work (OpenMP helper threads spinning at barriers, busy-wait loops).
SPIN_CPU_PER_TRIAL_RATIO = 2.0


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """Cores look busy, yet each trial costs far more CPU than in the sequential run."""
    share = obs.cpu_share
    mine = obs.core_s_per_trial
    base = None if ctx.baseline_obs is None else ctx.baseline_obs.core_s_per_trial
    if (
        not ctx.parallel
        or share is None
        or mine is None
        or not base
        or share < SPIN_MIN_CPU_SHARE
        or mine / base < SPIN_CPU_PER_TRIAL_RATIO
    ):
        return None
    ev = {
        "cpu_share": r(share),
        "core_s_per_trial": r(mine),
        "sequential_core_s_per_trial": r(base),
        "ratio": r(mine / base),
        "efficiency": r(ctx.efficiency),
    }
    return Finding(
        CODE,
        ctx.severity_by_efficiency(),
        ctx.label,
        ev,
        f"The run kept {share:.0%} of capacity busy but spent {mine:.1f} CPU core-seconds per "
        f"completed trial, {mine / base:.1f}x the sequential run's {base:.1f}: the extra CPU did "
        "no useful work. OpenMP/MKL helper threads spin while they wait for the next parallel "
        "region, which shows as CPU use without throughput." + efficiency_note(ctx),
        "Give each worker fewer threads (`--threads auto` or `--threads 1`) and try "
        "OMP_WAIT_POLICY=PASSIVE; the cost table's core-seconds per trial shows the waste.",
    )


def headline(e: Mapping[str, Any]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    ratio = num(e.get("ratio"))
    return f"burned {ratio}× the sequential run's CPU per trial without more throughput"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
