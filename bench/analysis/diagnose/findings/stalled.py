"""STALLED: Progress stopped: no heartbeat, no trial start or end, for many trials' time.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench.analysis.diagnose.findings._base import (
    ERROR,
    Finding,
    FindingSpec,
    RunContext,
    num,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "STALLED"
RUNBOOK = "runbooks/STALLED.md"

# No progress event (heartbeat, trial start or end) for at least this long: never shorter, so
# that probe jitter and ordinary slow generations are not called stalls.
STALL_MIN_GAP_S = 30.0
# ... and at least this many median trial durations (an objective that never beats has gaps of
# one trial; three in a row without any trial ending is not normal).
STALL_GAP_FACTOR = 3.0


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """No progress event for a long stretch."""
    gap = obs.longest_gap
    if gap is None:
        return None
    limit = STALL_MIN_GAP_S
    if obs.median_trial_s:
        limit = max(limit, STALL_GAP_FACTOR * obs.median_trial_s)
    if gap.seconds < limit:
        return None
    ev = {
        "gap_s": r(gap.seconds, 1),
        "from_s": r(gap.start, 1),
        "to_s": r(gap.end, 1),
        "limit_s": r(limit, 1),
        "median_trial_s": r(obs.median_trial_s),
        "trials_done": obs.trials_complete,
        "status": ctx.status,
    }
    median = (
        f", {gap.seconds / obs.median_trial_s:.0f}x the median trial" if obs.median_trial_s else ""
    )
    return Finding(
        CODE,
        ERROR,
        ctx.label,
        ev,
        f"No progress (no heartbeat, no trial starting or ending) for {gap.seconds:.0f} s, from "
        f"{gap.start:.0f} s to {gap.end:.0f} s after the run started{median}. "
        f"{obs.trials_complete} trials completed in the whole run (run status: {ctx.status}).",
        "While it hangs, look inside: `bench attach --pid PID` samples its threads and stacks. "
        "Set `--trial-timeout` so one stuck trial cannot hold the search, and prefer a strategy "
        "that can stop a trial (processes; threads cannot be killed).",
    )


def headline(e: Mapping[str, Any]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    return f"made no progress for {num(e.get('gap_s'), 0)} s"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
