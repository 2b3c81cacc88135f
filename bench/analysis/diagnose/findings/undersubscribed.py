"""UNDERSUBSCRIBED: Usable cores sat idle during the trials.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Required, TypedDict, cast

from bench.analysis.diagnose.findings._base import (
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    capacity,
    efficiency_note,
    num,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "UNDERSUBSCRIBED"
RUNBOOK = "runbooks/UNDERSUBSCRIBED.md"

# Mean CPU use of capacity in the work phase below which a parallel run leaves cores idle.
UNDER_CPU_SHARE_MAX = 0.6


# Live: a job whose runnable threads (median) cover at most this share of the usable cores cannot
# fill them, whatever else runs on the machine (its CPU share alone would also drop when others
# take the cores).
LIVE_RUNNABLE_SHARE_MAX = 0.6


class Evidence(TypedDict, total=False):
    """What UNDERSUBSCRIBED records: the CPU used and the cores left idle, then the run's workers,
    or a live job's runnable threads and the processes it would take to fill the cores."""

    cpu_cores_mean: Required[float | None]
    usable_cores: Required[int]
    cpu_share: Required[float | None]
    idle_cores: Required[float | None]
    # A recorded run (ray_nodes on a cluster, trials_done when too few for the workers).
    workers: int
    busy_processes_peak: int
    ray_nodes: int
    trials_done: int
    # A live job.
    runnable_threads_median: float | None
    working_processes: int
    processes_to_fill: int


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """A parallel run whose work phase left usable cores idle (idle: not used by anyone); a live
    job that left them idle, or whose runnable threads are too few to fill them."""
    if ctx.live:
        return _live(obs, ctx)
    share, idle = obs.cpu_share, obs.idle_cores
    if (
        not ctx.parallel
        or share is None
        or idle is None
        or obs.cpu_cores_mean is None
        or share >= UNDER_CPU_SHARE_MAX
        or idle / obs.usable_cores <= 1 - UNDER_CPU_SHARE_MAX
    ):
        return None
    ev: Evidence = {
        "cpu_cores_mean": r(obs.cpu_cores_mean),
        "usable_cores": obs.usable_cores,
        "cpu_share": r(share),
        "idle_cores": r(idle),
        "workers": ctx.workers,
        "busy_processes_peak": obs.busy_procs_peak,
    }
    if obs.nodes:
        ev["ray_nodes"] = obs.nodes
    why = []
    if ctx.workers < obs.usable_cores:
        why.append(f"only {ctx.workers} workers for {obs.usable_cores} cores")
    done = ctx.summary.trials_done if ctx.summary else obs.trials_complete
    if done and done < 2 * ctx.workers:
        ev["trials_done"] = done
        why.append(f"{done} trials for {ctx.workers} workers leave workers waiting at the end")
    reason = f" ({'; '.join(why)})" if why else ""
    return Finding(
        CODE,
        ctx.severity_by_efficiency(),
        ctx.label,
        ev,
        f"During the trials the run used a mean {obs.cpu_cores_mean:.1f} of {obs.usable_cores} "
        f"{capacity(obs)} ({share:.0%}); {idle:.1f} cores sat idle{reason}."
        + efficiency_note(ctx),
        f"Use one worker per usable core (`--workers {obs.usable_cores}`) and several trials per "
        "worker (`--trials` at least 4 x workers); if the workers are there but idle, look at the "
        "other findings of this run (start-up, dispatch).",
    )


def _live(obs: Observation, ctx: RunContext) -> Finding | None:
    share, idle, runnable = obs.cpu_share, obs.idle_cores, obs.runnable_threads_median
    if share is None or idle is None or runnable is None or obs.cpu_cores_mean is None:
        return None
    left_idle = share < UNDER_CPU_SHARE_MAX and idle / obs.usable_cores > 1 - UNDER_CPU_SHARE_MAX
    too_few = runnable <= LIVE_RUNNABLE_SHARE_MAX * obs.usable_cores
    if not (left_idle or too_few):
        return None
    workers = round(obs.working_procs_median or 0)
    ev: Evidence = {
        "cpu_cores_mean": r(obs.cpu_cores_mean),
        "usable_cores": obs.usable_cores,
        "cpu_share": r(share),
        "idle_cores": r(idle),
        "runnable_threads_median": r(runnable, 1),
        "working_processes": workers,
        "processes_to_fill": obs.usable_cores,
    }
    kept = (
        f"The job keeps {obs.cpu_cores_mean:.1f} of {obs.usable_cores} {capacity(obs)} busy "
        f"({share:.0%}; {idle:.1f} sat idle)"
    )
    shape = (
        f"a median of {runnable:g} thread(s) were runnable, in {workers} worker process(es), "
        f"so at most {min(runnable, obs.usable_cores):g} of the {obs.usable_cores} cores can work"
    )
    return Finding(
        CODE,
        WARNING,
        ctx.label,
        ev,
        f"{kept}: {shape}.",
        f"Run {obs.usable_cores} worker processes, one per usable core, each with 1 thread (or "
        f"fewer processes with {obs.usable_cores} // processes threads each): e.g. "
        f"`multiprocessing.Pool({obs.usable_cores})`, `n_jobs={obs.usable_cores}` with a process "
        "backend, or W processes on one Optuna storage; if the workers are there but idle, look "
        "at what they wait for (`bench attach` with stacks).",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    if "runnable_threads_median" in e:  # a live job: what its shape can keep busy
        return (
            f"kept {num(e['cpu_cores_mean'])} of {e['usable_cores']} usable cores busy "
            f"with {num(e.get('runnable_threads_median'))} runnable thread(s)"
        )
    return f"left {num(e['idle_cores'])} of {e['usable_cores']} cores idle"


SPEC = FindingSpec(
    CODE, (rule,), headline, RUNBOOK,
    explained_by=(
        "STALLED", "THROTTLED", "GIL_BOUND", "THREADS_NOT_PROCESSES", "SPIN_WAIT",
    ),
)
