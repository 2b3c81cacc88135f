"""THROTTLED: The job's own cgroup has a CPU quota, and the job keeps running into it.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict, cast

from bench.analysis.diagnose.findings._base import (
    ERROR,
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    num,
    pct,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "THROTTLED"
RUNBOOK = "runbooks/THROTTLED.md"

# Share of the quota's enforcement periods (100 ms by default) in which the job used up its quota
# and was stopped until the next period: a job well inside its quota sees none, one that wants
# more than it allows sees most.
THROTTLED_SHARE_MIN = 0.2
# From this share on the quota, not the job, decides its speed.
THROTTLED_SHARE_ERROR = 0.5
# Periods needed before a share means anything (at 100 ms, 2 s of running).
MIN_PERIODS = 20


class Evidence(TypedDict):
    """What THROTTLED records: the quota, the periods it stopped the job in, the time lost."""

    cpu_quota_cores: float | None
    usable_cores: int
    periods: int
    throttled_periods: int
    throttled_share: float | None
    throttled_s: float | None
    throttled_s_per_s: float | None
    cpu_cores_mean: float | None


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """A CPU quota binds the job's cgroup and it was throttled in a large share of its periods."""
    quota, periods = obs.cpu_quota, obs.throttle_periods
    if quota is None or periods < MIN_PERIODS:
        return None
    share = obs.throttled_periods / periods
    if share < THROTTLED_SHARE_MIN:
        return None
    per_s = obs.throttled_s / obs.tree_seconds if obs.tree_seconds else None
    ev: Evidence = {
        "cpu_quota_cores": r(quota),
        "usable_cores": obs.usable_cores,
        "periods": periods,
        "throttled_periods": obs.throttled_periods,
        "throttled_share": r(share),
        "throttled_s": r(obs.throttled_s),
        "throttled_s_per_s": r(per_s),
        "cpu_cores_mean": r(obs.cpu_cores_mean),
    }
    stopped = f" ({obs.throttled_s:.1f} s stopped in {obs.tree_seconds:.0f} s)" if obs.tree_seconds else ""
    return Finding(
        CODE,
        ERROR if share >= THROTTLED_SHARE_ERROR else WARNING,
        ctx.label,
        ev,
        f"The job's cgroup allows {quota:g} CPU(s) (its CPU quota), so it has {obs.usable_cores} "
        f"usable core(s) whatever the machine has; in {share:.0%} of {periods} enforcement periods "
        f"it used the quota up and the kernel stopped it until the next period{stopped}. It wants "
        "more CPU than the quota gives.",
        f"Raise or remove the quota (docker `--cpus`, Kubernetes `resources.limits.cpu`, systemd "
        f"`CPUQuota=`), or size the job to it: {obs.usable_cores} worker(s) with 1 thread each "
        f"(OMP_NUM_THREADS=1), so it stops starting more runnable threads than {quota:g} CPU(s) "
        "can run.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    return (
        f"was throttled by its {num(e['cpu_quota_cores'], 1)}-CPU quota in "
        f"{pct(e['throttled_share'])} of periods"
    )


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
