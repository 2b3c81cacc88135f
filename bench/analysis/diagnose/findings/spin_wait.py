"""SPIN_WAIT: Busy CPU that does no useful work (OpenMP/BLAS helpers spinning).

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict, cast

from bench.analysis.diagnose.findings._base import (
    WARNING,
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


class Evidence(TypedDict, total=False):
    """What SPIN_WAIT records: a run's CPU per trial against the sequential run's, or a live
    process whose native threads ran while its Python threads waited."""

    cpu_share: float | None
    core_s_per_trial: float | None
    sequential_core_s_per_trial: float | None
    ratio: float | None
    efficiency: float | None
    # A live process.
    pid: int
    runnable_threads_median: float | None
    python_threads_working: int
    stack_dumps: int
    thread_pools: list[str]
    waits: list[str]


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """Cores look busy, yet each trial costs far more CPU than in the sequential run; live, a
    process keeps threads runnable while none of its Python threads runs in any stack dump."""
    if ctx.live and not obs.trials_ran:
        return _native_while_python_waits(obs, ctx)
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
    ev: Evidence = {
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


def _native_while_python_waits(obs: Observation, ctx: RunContext) -> Finding | None:
    """The live arm: CPU burnt by threads outside Python (a loaded OpenMP/BLAS pool's workers at
    their barrier) while every Python thread of the process sits in a blocking call."""
    from bench.analysis.diagnose import thresholds as th

    if not obs.pools:
        return None  # no native thread pool mapped: nothing known to spin
    stacks = {st.pid: st for st in obs.stacks}
    for pid, name, runnable in obs.runnable_by_proc:
        st = stacks.get(pid)
        if st is None or st.samples < th.MIN_STACK_SAMPLES or st.active or runnable < 1:
            continue
        waits = [f"{w.thread} in {w.blocking_call or '?'}" for w in obs.waits if w.pid == pid]
        ev: Evidence = {
            "pid": pid,
            "runnable_threads_median": r(runnable, 1),
            "python_threads_working": 0,
            "stack_dumps": st.samples,
            "thread_pools": list(obs.pools),
            "waits": waits,
        }
        return Finding(
            CODE,
            WARNING,
            ctx.label,
            ev,
            f"Process {pid} ({name}) kept a median {runnable:g} thread(s) runnable while none of "
            f"its Python threads ran in any of {st.samples} stack dumps (they wait: "
            f"{'; '.join(waits) or 'no Python thread'}): the CPU goes to native threads outside "
            f"Python. With {', '.join(obs.pools)} loaded, those are the pool's worker threads "
            "spinning at their barrier for the next parallel region, which does no work.",
            "Let idle pool threads sleep: OMP_WAIT_POLICY=PASSIVE (GNU OpenMP; GOMP_SPINCOUNT=0), "
            "KMP_BLOCKTIME=0 (Intel OpenMP) in the job's environment before it starts, and give "
            "each worker fewer threads; `py-spy dump --native --pid PID` shows the native frames.",
        )
    return None


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    if "python_threads_working" in e:
        return f"kept {num(e.get('runnable_threads_median'))} native thread(s) busy while Python waited"
    ratio = num(e.get("ratio"))
    return f"burned {ratio}× the sequential run's CPU per trial without more throughput"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
