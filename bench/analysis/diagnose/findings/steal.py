"""STEAL: The hypervisor gave the VM's CPU time to other guests while the job ran.

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
    pct,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "STEAL"
RUNBOOK = "runbooks/STEAL.md"

# Mean share of the machine's CPU time the hypervisor stole (/proc/stat steal) while the job ran.
# A dedicated VM shows well under 1 %; a few % already skews timings, a fifth is an overcommitted
# host.
STEAL_SHARE_MIN = 0.05
# From a fifth on, an error: the host gives the VM much less than it is billed for.
STEAL_SHARE_ERROR = 0.2


class Evidence(TypedDict):
    """What STEAL records: the stolen share, the cores it amounts to, over how many samples."""

    steal_share: float | None
    usable_cores: int
    cores_lost: float | None
    tree_samples: int


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """Steal time above a few % of the CPU time while the job ran."""
    share = obs.steal_share
    if share is None or share < STEAL_SHARE_MIN:
        return None
    ev: Evidence = {
        "steal_share": r(share, 3),
        "usable_cores": obs.usable_cores,
        "cores_lost": r(share * obs.usable_cores),
        "tree_samples": obs.tree_samples,
    }
    return Finding(
        CODE,
        ERROR if share >= STEAL_SHARE_ERROR else WARNING,
        ctx.label,
        ev,
        f"The hypervisor took {share:.0%} of this VM's CPU time (steal time in /proc/stat) while "
        f"the job ran, about {share * obs.usable_cores:.1f} of its {obs.usable_cores} cores: the "
        "host is overcommitted, and every figure measured here (speed, CPU use, ratios) is "
        "lower than the same VM would give on a quiet host.",
        "Move the job to a VM type without CPU overcommit (dedicated or non-burstable instance, "
        "or one whose CPU credits are not exhausted) and measure again before acting on this "
        "run's ratios; `vmstat 1` (column st) shows steal as it happens.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    return f"lost {pct(e['steal_share'])} of its CPU time to the hypervisor (steal)"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
