"""DISPATCH_OVERHEAD: Workers wait between trials for a visible share of a trial.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict, cast

from bench.analysis.diagnose.findings._base import (
    Finding,
    FindingSpec,
    RunContext,
    num,
    pct,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "DISPATCH_OVERHEAD"
RUNBOOK = "runbooks/DISPATCH_OVERHEAD.md"

# Median idle gap between one worker's consecutive trials (ask, send, receive, tell) relative to
# the median trial duration from which dispatch eats a visible share of each worker's time.
DISPATCH_RATIO_MIN = 0.2
# Gaps below this are timer and scheduling jitter whatever the ratio; a millisecond is already
# a pipe round trip plus an Optuna ask/tell.
DISPATCH_MIN_S = 0.001


class Evidence(TypedDict):
    """What DISPATCH_OVERHEAD records: the median gap and trial, their ratio, how many gaps."""

    gap_s_median: float | None
    trial_s_median: float | None
    ratio: float | None
    gaps: int


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """Workers wait between trials for a large share of a trial's duration."""
    gap, median = obs.dispatch_gap_s, obs.median_trial_s
    if gap is None or not median or gap < DISPATCH_MIN_S or gap / median < DISPATCH_RATIO_MIN:
        return None
    ev: Evidence = {
        "gap_s_median": r(gap, 3),
        "trial_s_median": r(median, 3),
        "ratio": r(gap / median),
        "gaps": obs.dispatch_gaps,
    }
    return Finding(
        CODE,
        ctx.severity_by_efficiency(),
        ctx.label,
        ev,
        f"A worker waited a median {gap:.2f} s between consecutive trials, {gap / median:.0%} of "
        f"the median trial ({median:.2f} s): sampling the next parameters (the sampler's ask), "
        "sending them, and returning the result cost a visible share of each worker's time.",
        "Give each task more work (longer trials, several seeds per task), keep results small, "
        "and check the sampler's cost with `--sampler random`.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    gap, ratio = num(e["gap_s_median"], 2), pct(e["ratio"])
    return f"waited {gap} s between trials, {ratio} of a trial"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
