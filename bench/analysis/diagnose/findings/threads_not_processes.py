"""THREADS_NOT_PROCESSES: Trials run as threads of one process, not as worker processes.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Required, TypedDict, cast

from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings._base import (
    INFO,
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    efficiency_note,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "THREADS_NOT_PROCESSES"
RUNBOOK = "runbooks/THREADS_NOT_PROCESSES.md"


class Evidence(TypedDict, total=False):
    """What THREADS_NOT_PROCESSES records: the process and its threads, then concurrent trials in
    it (trial records), or its busy Python threads (stack samples)."""

    pid: Required[int | None]
    busy_processes_peak: Required[int]
    threads_peak_per_process: Required[int]
    # Trial records.
    trials_in_flight_peak: int
    trial_pids: int
    efficiency: float | None
    # Stack samples.
    active_python_threads_mean: float | None
    stack_samples: int


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """Several trials in flight at once, all inside one process; without trial records (a live
    process), several busy Python threads in one process and no other busy process."""
    if not obs.inflight_peak and not obs.trials_ran:
        return _from_stacks(obs, ctx)
    if obs.pid_inflight_peak < th.PARALLEL_MIN_INFLIGHT or obs.trial_pids != 1:
        return None
    ev: Evidence = {
        "trials_in_flight_peak": obs.pid_inflight_peak,
        "trial_pids": obs.trial_pids,
        "pid": obs.pid_inflight_pid,
        "busy_processes_peak": obs.busy_procs_peak,
        "threads_peak_per_process": obs.threads_peak_per_proc,
        "efficiency": r(ctx.efficiency),
    }
    eff = ctx.efficiency
    # Threads that scale (native code releasing the GIL) are a fact worth knowing, not a problem.
    severity = INFO if eff is not None and eff >= th.HEALTHY_MIN_EFFICIENCY else WARNING
    return Finding(
        CODE,
        ctx.severity_by_efficiency(severity),
        ctx.label,
        ev,
        f"{obs.pid_inflight_peak} trials were in flight at the same time, all inside one process "
        f"(pid {obs.pid_inflight_pid}): they ran as threads of that process, not as worker "
        "processes. Optuna's `study.optimize(n_jobs=W)` works this way (a thread pool, no joblib); "
        "the threads share one interpreter, so the objective's Python code runs one thread at a "
        "time." + efficiency_note(ctx),
        "Run trials in worker processes: `bench compare --strategies pool,optuna-journal` and take "
        "the faster; in your code, replace `n_jobs=W` with W processes sharing one study "
        "(JournalStorage or an RDB URL) or a multiprocessing pool that returns values to ask/tell.",
    )


def _from_stacks(obs: Observation, ctx: RunContext) -> Finding | None:
    """The stack samples' arm: one process with several busy Python threads, no other busy one."""
    main = obs.main_stack
    if main is None or main.active_mean < th.MIN_ACTIVE_PY_THREADS or obs.busy_procs_peak > 1:
        return None
    ev: Evidence = {
        "pid": main.pid,
        "active_python_threads_mean": r(main.active_mean),
        "stack_samples": main.samples,
        "busy_processes_peak": obs.busy_procs_peak,
        "threads_peak_per_process": obs.threads_peak_per_proc,
    }
    return Finding(
        CODE,
        WARNING,
        ctx.label,
        ev,
        f"Process {main.pid} had {main.active_mean:.1f} busy Python threads per stack sample on "
        f"average and no other process of its tree was busy: the parallel work runs as threads "
        "of one interpreter, not as worker processes.",
        "Check where the threads come from (`study.optimize(n_jobs=...)`, a ThreadPoolExecutor, "
        "joblib's threading backend) and run the work in processes instead; `bench compare` on "
        "a small search shows the difference.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    if "trials_in_flight_peak" in e:
        return f"ran {e['trials_in_flight_peak']} trials at once as threads of one process"
    n = e.get("active_python_threads_mean")
    return f"ran its work as {n} busy Python threads of one process"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
