"""STALLED: Progress stopped: no heartbeat, no trial start or end, for many trials' time.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict, cast

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


# Live: at most this many cores of CPU (mean) is "no CPU": a probe's own reads and a heartbeat
# thread stay far below, one thread doing anything is far above.
LIVE_IDLE_CORES_MAX = 0.05


class Evidence(TypedDict, total=False):
    """What STALLED records: the longest gap without progress, or a live job that used no CPU
    while none of its stacks moved."""

    gap_s: float | None
    from_s: float | None
    to_s: float | None
    limit_s: float | None
    median_trial_s: float | None
    trials_done: int
    status: str
    # A live job, frozen.
    cpu_cores_mean: float | None
    seconds: float | None
    stack_dumps: int
    threads: int
    waits: dict[str, str]  # "pid/thread" -> "user frame <- blocking call"
    children_alive: int


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """No progress event for a long stretch; live without trial records, no CPU and no change in
    any Python stack across the dumps."""
    if ctx.live and not obs.trials_ran and not obs.inflight_peak:
        return _frozen(obs, ctx)
    gap = obs.longest_gap
    if gap is None:
        return None
    limit = STALL_MIN_GAP_S
    if obs.median_trial_s:
        limit = max(limit, STALL_GAP_FACTOR * obs.median_trial_s)
    if gap.seconds < limit:
        return None
    ev: Evidence = {
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


def _frozen(obs: Observation, ctx: RunContext) -> Finding | None:
    cpu = obs.cpu_cores_mean
    if cpu is None or cpu > LIVE_IDLE_CORES_MAX or obs.stacks_moved is not False:
        return None  # busy, or no two stack dumps of a process to compare: not judged
    dumps = sum(st.samples for st in obs.stacks)
    sites = [
        f"{w.thread or 'thread'} (pid {w.pid}) "
        + (f"in {w.user_frame}, blocked in {w.blocking_call}" if w.user_frame
           else f"in {w.blocking_call or 'no Python frame'}")
        for w in obs.waits
    ]
    children = obs.children_alive or 0
    ev: Evidence = {
        "cpu_cores_mean": r(cpu, 3),
        "seconds": r(obs.tree_seconds, 1),
        "stack_dumps": dumps,
        "threads": len(obs.waits),
        "waits": {f"{w.pid}/{w.thread}": f"{w.user_frame or '?'} <- {w.blocking_call or '?'}"
                  for w in obs.waits},
        "children_alive": children,
    }
    kids = (
        "No child process is alive." if not children
        else f"{children} child process(es) of the job are alive (see the process tree samples)."
    )
    return Finding(
        CODE,
        ERROR,
        ctx.label,
        ev,
        f"For {obs.tree_seconds:.0f} s the job used no CPU ({cpu:.2f} cores) and none of its Python "
        f"stacks changed across {dumps} dumps: every thread waits. Where: {'; '.join(sites)}. "
        + kids,
        "Find what the innermost user frames wait for: an event nobody sets, a queue nobody fills, "
        "a lock held elsewhere, a child that died (`py-spy dump --pid PID` shows full stacks). "
        "Give trials a timeout (Optuna `study.optimize(..., timeout=...)`, a pool's "
        "`AsyncResult.get(timeout)`, `bench compare --trial-timeout`) so one stuck trial cannot "
        "hold the search; threads cannot be killed, worker processes can.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    if "gap_s" not in e:
        return f"used no CPU and its stacks did not move for {num(e.get('seconds'), 0)} s"
    return f"made no progress for {num(e.get('gap_s'), 0)} s"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
