"""OVERSUBSCRIBED: More runnable threads than cores: they take turns and preempt each other.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Required, TypedDict, cast

from bench.analysis.diagnose.findings._base import (
    ERROR,
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    capacity,
    num,
    pct,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "OVERSUBSCRIBED"
RUNBOOK = "runbooks/OVERSUBSCRIBED.md"

# Runnable threads per usable core (median over the work phase) above which threads queue for
# cores: two per core means each runs half the time at best.
OVERSUB_THREADS_PER_CORE = 2.0
# Involuntary context switches per second per usable core: the scheduler preempting runnable
# threads at the end of their slice. A thread alone on its core sees a handful a second; a run
# queue of two or more gives hundreds. (GIL hand-offs are voluntary switches and do not count.)
OVERSUB_INVOL_PER_CORE_S = 50.0
# Throughput of the unlimited-threads run below this fraction of the thread-limited run of the
# same strategy (and start method) is the slowdown oversubscription costs.
OVERSUB_SLOWDOWN = 0.9


class Evidence(TypedDict, total=False):
    """What OVERSUBSCRIBED records: the runnable threads and preemptions of every arm, the
    thread-limited run when one ran beside it, and a live job's threads by process."""

    runnable_threads_median: Required[float | None]
    runnable_threads_is_floor: Required[bool]
    usable_cores: Required[int]
    runnable_per_core: Required[float | None]
    invol_ctx_switches_per_core_s: Required[float | None]
    threads_peak_total: Required[int]
    # Beside the thread-limited run of the same strategy.
    throughput_vs_limited: float | None
    limited_run: str
    # A live job.
    working_processes: int
    runnable_by_process: dict[str, float]
    thread_pools: list[str]
    threads_per_worker_to_set: int


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """More runnable threads than cores, preemption, and slower than the thread-limited run."""
    per_core = obs.runnable_per_core
    threads_high = per_core is not None and per_core >= OVERSUB_THREADS_PER_CORE
    invol_high = (
        obs.invol_per_core_s is not None and obs.invol_per_core_s >= OVERSUB_INVOL_PER_CORE_S
    )
    ratio = None
    if ctx.limited is not None and ctx.summary is not None:
        mine, theirs = ctx.summary.throughput, ctx.limited.throughput
        if mine and theirs:
            ratio = mine / theirs
    slower = ratio is not None and ratio < OVERSUB_SLOWDOWN
    # Live, nothing ran beside the job to compare with: threads queueing for cores is the
    # evidence itself (the preemptions are reported, not required: a loaded machine preempts
    # a well-sized job as often), unless they are Python threads taking turns on one GIL.
    if ctx.live:
        if not threads_high or _threads_share_a_gil(obs):
            return None
    elif not ((threads_high and (invol_high or slower)) or (invol_high and slower)):
        return None
    ev: Evidence = {
        "runnable_threads_median": r(obs.runnable_threads_median, 1),
        "runnable_threads_is_floor": obs.runnable_threads_truncated,
        "usable_cores": obs.usable_cores,
        "runnable_per_core": r(per_core),
        "invol_ctx_switches_per_core_s": r(obs.invol_per_core_s, 0),
        "threads_peak_total": obs.threads_peak_total,
    }
    parts = []
    if per_core is not None:
        floor = "at least " if obs.runnable_threads_truncated else ""
        parts.append(
            f"a median of {floor}{obs.runnable_threads_median:.0f} threads were runnable for "
            f"{obs.usable_cores} {capacity(obs)} ({per_core:.1f} per core)"
        )
    if obs.invol_per_core_s is not None:
        parts.append(
            f"the scheduler preempted threads {obs.invol_per_core_s:.0f} times a second per core"
        )
    if ratio is not None and ctx.limited is not None:
        ev.update({"throughput_vs_limited": r(ratio), "limited_run": ctx.limited.label})
        parts.append(
            f"throughput was {ratio:.0%} of `{ctx.limited.label}`, the same strategy with "
            f"{ctx.limited.threads or ctx.limited.threads_policy} thread(s) per worker"
        )
    text = "; ".join(parts)
    if ctx.live:
        return _live(obs, ctx, ev, text)
    return Finding(
        CODE,
        ctx.severity_by_efficiency(ERROR if slower else WARNING),
        ctx.label,
        ev,
        text[0].upper() + text[1:] + ". Every worker's libraries (PyTorch intra-op, OpenMP, BLAS) "
        "start one thread per core, so W workers start W x cores threads that take turns.",
        "Limit threads per worker to cores // workers before workers start (`--threads auto`: "
        "torch.set_num_threads, OMP_NUM_THREADS, threadpoolctl); compare "
        "`bench compare --strategies pool,pool@unlimited`.",
    )


def _threads_share_a_gil(obs: Observation) -> bool:
    """The process holding the most runnable threads runs several Python threads at once: they
    take turns on its GIL, not on the cores (GIL_BOUND, THREADS_NOT_PROCESSES say so), so their
    count is not evidence of too many threads for the cores."""
    from bench.analysis.diagnose import thresholds as th

    if not obs.runnable_by_proc:
        return False
    top = obs.runnable_by_proc[0][0]
    st = next((s for s in obs.stacks if s.pid == top), None)
    return st is not None and st.active_mean >= th.MIN_ACTIVE_PY_THREADS


def _live(obs: Observation, ctx: RunContext, ev: Evidence, text: str) -> Finding:
    """A live job: whose threads they are, which thread pools its processes loaded, what to set."""
    holders = [f"pid {pid} ({name}) {n:g}" for pid, name, n in obs.runnable_by_proc]
    workers = max(1, round(obs.working_procs_median or 1))
    per_worker = max(1, obs.usable_cores // workers)
    ev |= {
        "working_processes": workers,
        "runnable_by_process": {str(pid): n for pid, _, n in obs.runnable_by_proc},
        "thread_pools": list(obs.pools),
        "threads_per_worker_to_set": per_worker,
    }
    pools = (
        f" Thread pools loaded: {', '.join(obs.pools)}." if obs.pools else
        " Which library started the threads is not visible from outside (no OpenMP, BLAS or "
        "PyTorch library mapped in the busy processes)."
    )
    return Finding(
        CODE,
        WARNING,
        ctx.label,
        ev,
        text[0].upper() + text[1:] + f". Runnable threads by process: {', '.join(holders) or 'n/a'}; "
        f"{workers} process(es) hold them, so each worker's libraries start about one thread per "
        "core and the threads take turns." + pools,
        f"Give each of the {workers} worker process(es) {per_worker} thread(s) "
        f"(usable cores {obs.usable_cores} // {workers} workers) before they start work: "
        f"OMP_NUM_THREADS={per_worker} MKL_NUM_THREADS={per_worker} "
        f"OPENBLAS_NUM_THREADS={per_worker} in their environment, or `torch.set_num_threads("
        f"{per_worker})` / `threadpoolctl.threadpool_limits({per_worker})` at the top of the worker "
        "function; then attach again and check one runnable thread per core.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    text = f"had {num(e['runnable_per_core'])} runnable threads per core"
    if e.get("throughput_vs_limited") is not None:
        ratio = pct(e["throughput_vs_limited"])
        text += f" and ran trials at {ratio} of `{e.get('limited_run')}`'s rate"
    return text


# Under a CPU quota the quota is the root cause: THROTTLED says what to set.
SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK, explained_by=("THROTTLED",))
