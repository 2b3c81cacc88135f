"""GIL_BOUND: Python threads of one process queue for its GIL: about one core of work.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, Required, TypedDict, cast

from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings._base import (
    ERROR,
    Finding,
    FindingSpec,
    RunContext,
    efficiency_note,
    pct,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "GIL_BOUND"
RUNBOOK = "runbooks/GIL_BOUND.md"

# Share of active Python threads (holding the GIL + waiting for it + in native code) seen waiting
# for the GIL across a run's stack samples. One waiter beside one holder is 50 %; a quarter means
# a thread was queueing in most samples.
GIL_WAIT_SHARE_MIN = 0.25
# The same question answered by the kernel (probes.gil): working threads' mean share of time asleep
# on the GIL. A thread alone on its GIL waits microseconds; two threads of a torch loop on one GIL
# wait 30-60 % each on an otherwise idle 2-core machine; a fifth is well clear of both.
GIL_WAIT_TIME_SHARE_MIN = 0.2
# Without stack evidence, "one core" only means serialisation when cores were left idle: at
# least this many usable cores unused by anyone (a machine full of other work also caps a
# process at one core).
GIL_IDLE_CORES_MIN = 0.5
# "About one core": the busiest process's median CPU in the work phase. A GIL-bound process sits
# at ~100 %; native code between Python calls (torch kernels release the GIL) adds some.
GIL_ONE_CORE_MAX_PCT = 150.0


class Evidence(TypedDict, total=False):
    """What GIL_BOUND records: where the GIL was seen (`source`) and the figures every arm writes,
    then those of its arm."""

    source: Required[Literal["kernel", "stacks", "cpu"]]
    pid: Required[int | None]
    stack_samples: Required[int]
    process_cpu_pct_median: Required[float | None]
    usable_cores: Required[int]
    efficiency: Required[float | None]
    # Seen in the stack samples ("stacks", "kernel"): the threads' states.
    gil_wait_share: float | None
    active_python_threads_mean: float | None
    state_counts: dict[str, int]
    # ... and measured by the kernel ("kernel"): the working threads' windows.
    thread_windows: int
    asleep_share_mean: float | None
    switches_per_s_mean: float | None
    syscall_reads: int
    reads_blocked_on_gil: int
    # Inferred from CPU ("cpu"): concurrent trials in one process beside idle cores.
    trials_in_flight_peak: int
    idle_cores: float | None


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """Python threads queue for the GIL and the process does about one core of work."""
    if obs.usable_cores < 2:
        return None  # on one core everything is "about one core"; the GIL costs nothing extra
    if obs.nodes:
        # Not judged on a cluster: the stack samples are of the driver, whose threads run no
        # trial, and a Ray worker runs one task at a time, so no two trials share its GIL.
        return None
    cpu = obs.busiest_cpu_pct
    main = obs.main_stack
    dumps = 0 if main is None else main.samples  # py-spy dumps of the busiest process in the trials
    if main is not None and main.samples < th.MIN_STACK_SAMPLES:
        main = None
    share = None if main is None else main.gil_wait_share
    kernel = main is not None and main.gil_wait_source == "kernel"
    share_min = GIL_WAIT_TIME_SHARE_MIN if kernel else GIL_WAIT_SHARE_MIN
    one_core = cpu is not None and cpu <= GIL_ONE_CORE_MAX_PCT
    if (
        main is not None
        and share is not None
        and share >= share_min
        and main.active_mean >= th.MIN_ACTIVE_PY_THREADS
        and (cpu is None or one_core)
    ):
        ev: Evidence = {
            "source": "kernel" if kernel else "stacks",
            "pid": main.pid,
            "gil_wait_share": r(share),
            "active_python_threads_mean": r(main.active_mean),
            "stack_samples": main.samples,
            "state_counts": dict(main.counts),
            "process_cpu_pct_median": r(cpu, 0),
            "usable_cores": obs.usable_cores,
            "efficiency": r(ctx.efficiency),
        }
        if kernel:
            ev |= {
                "thread_windows": main.waits,
                "asleep_share_mean": r(main.sleep_mean),
                "switches_per_s_mean": r(main.switches_mean, 0),
                "syscall_reads": main.reads,
                "reads_blocked_on_gil": main.gil_blocked,
            }
        cpu_text = (
            ""
            if cpu is None
            else (
                f", and the process used a median {cpu:.0f}% CPU, about one of "
                f"{obs.usable_cores} cores"
            )
        )
        if kernel:
            seen = (
                f"; {main.gil_blocked} of {main.reads} syscall reads caught a thread asleep on the "
                "GIL's futex itself"
                if main.gil_blocked
                else ""
            )
            what = (
                f"The working Python threads of pid {main.pid} spent {share:.0%} of their time "
                f"waiting for the GIL, by the kernel's scheduler figures after {main.samples} "
                f"stack dumps: asleep {main.sleep_mean or 0:.0%} of the time outside any blocking "
                f"call, switched {main.switches_mean or 0:,.0f} times a second{seen} "
                f"({main.active_mean:.1f} working threads per sample){cpu_text}. "
            )
        else:
            what = (
                f"Stack samples of pid {main.pid} show {share:.0%} of its active Python threads "
                f"waiting for the GIL ({main.active_mean:.1f} active threads per sample)"
                f"{cpu_text}. "
            )
        return Finding(
            CODE,
            ERROR,
            ctx.label,
            ev,
            what + "Only one thread runs Python at a time; the others queue, so more threads add "
            "no throughput." + efficiency_note(ctx),
            "Run the trials in processes (`pool`, `optuna-journal`), each with its own "
            "interpreter and GIL; or move the hot loop into batched tensor ops (`--mode batched`) "
            "that release the GIL. Confirm on a live job with `bench attach --pid PID`.",
        )
    # No stack evidence (py-spy missing or not permitted, too few dumps): the CPU figure alone,
    # when trials were demonstrably concurrent in the process while cores were left idle.
    idle = obs.idle_cores
    if (
        main is None
        and one_core
        and obs.pid_inflight_peak >= th.PARALLEL_MIN_INFLIGHT
        and obs.trial_pids == 1
        and idle is not None
        and idle >= GIL_IDLE_CORES_MIN
    ):
        ev = {  # an Evidence, as declared in the arm above
            "source": "cpu",
            "pid": obs.pid_inflight_pid,
            "trials_in_flight_peak": obs.pid_inflight_peak,
            "process_cpu_pct_median": r(cpu, 0),
            "idle_cores": r(idle),
            "usable_cores": obs.usable_cores,
            "efficiency": r(ctx.efficiency),
            "stack_samples": dumps,
        }
        why = (
            f"only {dumps} stack dump(s) fell inside the trials, fewer than the "
            f"{th.MIN_STACK_SAMPLES} that thread states need"
            if dumps
            else "no stack samples (see the probe notes)"
        )
        return Finding(
            CODE,
            ctx.severity_by_efficiency(),
            ctx.label,
            ev,
            f"{obs.pid_inflight_peak} trials ran at once in pid {obs.pid_inflight_pid}, yet it "
            f"used a median {cpu:.0f}% CPU, about one of {obs.usable_cores} cores, while "
            f"{idle:.1f} cores sat idle: the trials took turns on one interpreter. The GIL is "
            f"inferred from CPU, not seen: {why}." + efficiency_note(ctx),
            "Run the trials in processes (`pool`, `optuna-journal`). To see the GIL itself, "
            "re-run with more or longer trials, or a shorter `--stack-interval`, and py-spy "
            "permitted (root or CAP_SYS_PTRACE, or ptrace_scope 0).",
        )
    return None


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    cpu, cores = e["process_cpu_pct_median"], e["usable_cores"]
    if e["source"] in ("stacks", "kernel"):
        share = pct(e.get("gil_wait_share"))
        text = (
            f"had its working Python threads waiting for the GIL {share} of the time"
            if e["source"] == "kernel"
            else f"had {share} of its active Python threads waiting for the GIL"
        )
        if cpu is not None:
            text += f" and the process used {cpu:.0f}% CPU, about one of {cores} cores"
        return text
    return (
        f"squeezed {e.get('trials_in_flight_peak')} concurrent trials into {cpu:.0f}% CPU, about "
        f"one of {cores} cores (GIL inferred from CPU: no stack samples)"
    )


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
