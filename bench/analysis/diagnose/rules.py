"""The finding rules: each looks at one run's Observation (and its comparison runs) and returns a
Finding with the numbers that fired it, or None. Pure functions; thresholds from `thresholds`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings import Finding
from bench.analysis.diagnose.observe import Observation
from bench.analysis.summary import RunSummary

PARALLEL_KINDS = ("threads", "processes", "ray")


@dataclass(frozen=True)
class RunContext:
    """What a rule may compare a run with: its summary, the sequential baseline, and for an
    unlimited-threads run the thread-limited run of the same strategy and start method."""

    label: str
    kind: str
    workers: int
    status: str = "ok"
    summary: RunSummary | None = None
    baseline: RunSummary | None = None
    baseline_obs: Observation | None = None
    limited: RunSummary | None = None

    @property
    def efficiency(self) -> float | None:
        return None if self.summary is None else self.summary.efficiency

    @property
    def parallel(self) -> bool:
        return self.kind in PARALLEL_KINDS and self.workers > 1

    def severity_by_efficiency(self, default: str = F.WARNING) -> str:
        eff = self.efficiency
        return F.ERROR if eff is not None and eff < th.LOW_EFFICIENCY else default


Rule = Callable[[Observation, RunContext], "Finding | None"]


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _capacity(obs: Observation) -> str:
    """What `usable_cores` counts: this machine's cores, or a cluster's Ray CPUs."""
    return f"Ray CPUs over {obs.nodes} nodes" if obs.nodes else "usable cores"


def _efficiency_note(ctx: RunContext) -> str:
    s = ctx.summary
    if s is None or s.speedup is None:
        return ""
    return (
        f" Useful speedup {s.speedup:.2f}x vs sequential over {ctx.workers} workers "
        f"({_pct(s.efficiency)})."
    )


# --- THREADS_NOT_PROCESSES --------------------------------------------------------------------
def threads_not_processes(obs: Observation, ctx: RunContext) -> Finding | None:
    """Several trials in flight at once, all inside one process."""
    if obs.pid_inflight_peak < th.PARALLEL_MIN_INFLIGHT or obs.trial_pids != 1:
        return None
    ev = {
        "trials_in_flight_peak": obs.pid_inflight_peak,
        "trial_pids": obs.trial_pids,
        "pid": obs.pid_inflight_pid,
        "busy_processes_peak": obs.busy_procs_peak,
        "threads_peak_per_process": obs.threads_peak_per_proc,
        "efficiency": _r(ctx.efficiency),
    }
    eff = ctx.efficiency
    # Threads that scale (native code releasing the GIL) are a fact worth knowing, not a problem.
    severity = F.INFO if eff is not None and eff >= th.HEALTHY_MIN_EFFICIENCY else F.WARNING
    return Finding(
        F.THREADS_NOT_PROCESSES,
        ctx.severity_by_efficiency(severity),
        ctx.label,
        ev,
        f"{obs.pid_inflight_peak} trials were in flight at the same time, all inside one process "
        f"(pid {obs.pid_inflight_pid}): they ran as threads of that process, not as worker "
        "processes. Optuna's `study.optimize(n_jobs=W)` works this way (a thread pool, no joblib); "
        "the threads share one interpreter, so the objective's Python code runs one thread at a "
        "time." + _efficiency_note(ctx),
        "Run trials in worker processes: `bench compare --strategies pool,optuna-journal` and take "
        "the faster; in your code, replace `n_jobs=W` with W processes sharing one study "
        "(JournalStorage or an RDB URL) or a multiprocessing pool that returns values to ask/tell.",
    )


def threads_not_processes_live(obs: Observation, ctx: RunContext) -> Finding | None:
    """Live process: one process with several busy Python threads, no other busy process."""
    main = obs.main_stack
    if main is None or main.active_mean < th.MIN_ACTIVE_PY_THREADS or obs.busy_procs_peak > 1:
        return None
    ev = {
        "pid": main.pid,
        "active_python_threads_mean": _r(main.active_mean),
        "stack_samples": main.samples,
        "busy_processes_peak": obs.busy_procs_peak,
        "threads_peak_per_process": obs.threads_peak_per_proc,
    }
    return Finding(
        F.THREADS_NOT_PROCESSES,
        F.WARNING,
        ctx.label,
        ev,
        f"Process {main.pid} had {main.active_mean:.1f} busy Python threads per stack sample on "
        f"average and no other process of its tree was busy: the parallel work runs as threads "
        "of one interpreter, not as worker processes.",
        "Check where the threads come from (`study.optimize(n_jobs=...)`, a ThreadPoolExecutor, "
        "joblib's threading backend) and run the work in processes instead; `bench compare` on "
        "a small search shows the difference.",
    )


# --- GIL_BOUND --------------------------------------------------------------------------------
def gil_bound(obs: Observation, ctx: RunContext) -> Finding | None:
    """Python threads queue for the GIL and the process does about one core of work."""
    if obs.usable_cores < 2:
        return None  # on one core everything is "about one core"; the GIL costs nothing extra
    if obs.nodes:
        # Not judged on a cluster: the stack samples are of the driver, whose threads run no
        # trial, and a Ray worker runs one task at a time, so no two trials share its GIL.
        return None
    cpu = obs.busiest_cpu_pct
    main = obs.main_stack
    if main is not None and main.samples < th.MIN_STACK_SAMPLES:
        main = None
    share = None if main is None else main.gil_wait_share
    kernel = main is not None and main.gil_wait_source == "kernel"
    share_min = th.GIL_WAIT_TIME_SHARE_MIN if kernel else th.GIL_WAIT_SHARE_MIN
    one_core = cpu is not None and cpu <= th.GIL_ONE_CORE_MAX_PCT
    if (
        main is not None
        and share is not None
        and share >= share_min
        and main.active_mean >= th.MIN_ACTIVE_PY_THREADS
        and (cpu is None or one_core)
    ):
        ev = {
            "source": "kernel" if kernel else "stacks",
            "pid": main.pid,
            "gil_wait_share": _r(share),
            "active_python_threads_mean": _r(main.active_mean),
            "stack_samples": main.samples,
            "state_counts": dict(main.counts),
            "process_cpu_pct_median": _r(cpu, 0),
            "usable_cores": obs.usable_cores,
            "efficiency": _r(ctx.efficiency),
        }
        if kernel:
            ev |= {
                "thread_windows": main.waits,
                "asleep_share_mean": _r(main.sleep_mean),
                "switches_per_s_mean": _r(main.switches_mean, 0),
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
            F.GIL_BOUND,
            F.ERROR,
            ctx.label,
            ev,
            what + "Only one thread runs Python at a time; the others queue, so more threads add "
            "no throughput." + _efficiency_note(ctx),
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
        and idle >= th.GIL_IDLE_CORES_MIN
    ):
        ev = {
            "source": "cpu",
            "pid": obs.pid_inflight_pid,
            "trials_in_flight_peak": obs.pid_inflight_peak,
            "process_cpu_pct_median": _r(cpu, 0),
            "idle_cores": _r(idle),
            "usable_cores": obs.usable_cores,
            "efficiency": _r(ctx.efficiency),
        }
        return Finding(
            F.GIL_BOUND,
            ctx.severity_by_efficiency(),
            ctx.label,
            ev,
            f"{obs.pid_inflight_peak} trials ran at once in pid {obs.pid_inflight_pid}, yet it "
            f"used a median {cpu:.0f}% CPU, about one of {obs.usable_cores} cores, while "
            f"{idle:.1f} cores sat idle: the trials took turns on one interpreter. No stack "
            "samples show the GIL directly (see the probe notes)." + _efficiency_note(ctx),
            "Run the trials in processes (`pool`, `optuna-journal`). To see the GIL itself, "
            "re-run with py-spy permitted (root or CAP_SYS_PTRACE, or ptrace_scope 0).",
        )
    return None


# --- OVERSUBSCRIBED -----------------------------------------------------------------------------
def oversubscribed(obs: Observation, ctx: RunContext) -> Finding | None:
    """More runnable threads than cores, preemption, and slower than the thread-limited run."""
    per_core = obs.runnable_per_core
    threads_high = per_core is not None and per_core >= th.OVERSUB_THREADS_PER_CORE
    invol_high = (
        obs.invol_per_core_s is not None and obs.invol_per_core_s >= th.OVERSUB_INVOL_PER_CORE_S
    )
    ratio = None
    if ctx.limited is not None and ctx.summary is not None:
        mine, theirs = ctx.summary.throughput, ctx.limited.throughput
        if mine and theirs:
            ratio = mine / theirs
    slower = ratio is not None and ratio < th.OVERSUB_SLOWDOWN
    if not ((threads_high and (invol_high or slower)) or (invol_high and slower)):
        return None
    ev: dict[str, Any] = {
        "runnable_threads_median": _r(obs.runnable_threads_median, 1),
        "runnable_threads_is_floor": obs.runnable_threads_truncated,
        "usable_cores": obs.usable_cores,
        "runnable_per_core": _r(per_core),
        "invol_ctx_switches_per_core_s": _r(obs.invol_per_core_s, 0),
        "threads_peak_total": obs.threads_peak_total,
    }
    parts = []
    if per_core is not None:
        floor = "at least " if obs.runnable_threads_truncated else ""
        parts.append(
            f"a median of {floor}{obs.runnable_threads_median:.0f} threads were runnable for "
            f"{obs.usable_cores} {_capacity(obs)} ({per_core:.1f} per core)"
        )
    if obs.invol_per_core_s is not None:
        parts.append(
            f"the scheduler preempted threads {obs.invol_per_core_s:.0f} times a second per core"
        )
    if ratio is not None and ctx.limited is not None:
        ev.update({"throughput_vs_limited": _r(ratio), "limited_run": ctx.limited.label})
        parts.append(
            f"throughput was {ratio:.0%} of `{ctx.limited.label}`, the same strategy with "
            f"{ctx.limited.threads or ctx.limited.threads_policy} thread(s) per worker"
        )
    text = "; ".join(parts)
    return Finding(
        F.OVERSUBSCRIBED,
        ctx.severity_by_efficiency(F.ERROR if slower else F.WARNING),
        ctx.label,
        ev,
        text[0].upper() + text[1:] + ". Every worker's libraries (PyTorch intra-op, OpenMP, BLAS) "
        "start one thread per core, so W workers start W x cores threads that take turns.",
        "Limit threads per worker to cores // workers before workers start (`--threads auto`: "
        "torch.set_num_threads, OMP_NUM_THREADS, threadpoolctl); compare "
        "`bench compare --strategies pool,pool@unlimited`.",
    )


# --- SPIN_WAIT ----------------------------------------------------------------------------------
def spin_wait(obs: Observation, ctx: RunContext) -> Finding | None:
    """Cores look busy, yet each trial costs far more CPU than in the sequential run."""
    share = obs.cpu_share
    mine = obs.core_s_per_trial
    base = None if ctx.baseline_obs is None else ctx.baseline_obs.core_s_per_trial
    if (
        not ctx.parallel
        or share is None
        or mine is None
        or not base
        or share < th.SPIN_MIN_CPU_SHARE
        or mine / base < th.SPIN_CPU_PER_TRIAL_RATIO
    ):
        return None
    ev = {
        "cpu_share": _r(share),
        "core_s_per_trial": _r(mine),
        "sequential_core_s_per_trial": _r(base),
        "ratio": _r(mine / base),
        "efficiency": _r(ctx.efficiency),
    }
    return Finding(
        F.SPIN_WAIT,
        ctx.severity_by_efficiency(),
        ctx.label,
        ev,
        f"The run kept {share:.0%} of capacity busy but spent {mine:.1f} CPU core-seconds per "
        f"completed trial, {mine / base:.1f}x the sequential run's {base:.1f}: the extra CPU did "
        "no useful work. OpenMP/MKL helper threads spin while they wait for the next parallel "
        "region, which shows as CPU use without throughput." + _efficiency_note(ctx),
        "Give each worker fewer threads (`--threads auto` or `--threads 1`) and try "
        "OMP_WAIT_POLICY=PASSIVE; the cost table's core-seconds per trial shows the waste.",
    )


# --- UNDERSUBSCRIBED ----------------------------------------------------------------------------
def undersubscribed(obs: Observation, ctx: RunContext) -> Finding | None:
    """A parallel run whose work phase left usable cores idle (idle: not used by anyone)."""
    share, idle = obs.cpu_share, obs.idle_cores
    if (
        not ctx.parallel
        or share is None
        or idle is None
        or obs.cpu_cores_mean is None
        or share >= th.UNDER_CPU_SHARE_MAX
        or idle / obs.usable_cores <= 1 - th.UNDER_CPU_SHARE_MAX
    ):
        return None
    ev: dict[str, Any] = {
        "cpu_cores_mean": _r(obs.cpu_cores_mean),
        "usable_cores": obs.usable_cores,
        "cpu_share": _r(share),
        "idle_cores": _r(idle),
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
        F.UNDERSUBSCRIBED,
        ctx.severity_by_efficiency(),
        ctx.label,
        ev,
        f"During the trials the run used a mean {obs.cpu_cores_mean:.1f} of {obs.usable_cores} "
        f"{_capacity(obs)} ({share:.0%}); {idle:.1f} cores sat idle{reason}."
        + _efficiency_note(ctx),
        f"Use one worker per usable core (`--workers {obs.usable_cores}`) and several trials per "
        "worker (`--trials` at least 4 x workers); if the workers are there but idle, look at the "
        "other findings of this run (start-up, dispatch).",
    )


# --- CONTENDED ----------------------------------------------------------------------------------
def contended(obs: Observation, ctx: RunContext) -> Finding | None:
    """Other processes took a large share of the usable cores while the trials ran."""
    if obs.nodes:
        return _contended_hosts(obs, ctx)
    share = obs.foreign_share
    if share is None or share < th.CONTENDED_SHARE_MIN or obs.foreign_cores_mean is None:
        return None
    ev = {
        "foreign_cores_mean": _r(obs.foreign_cores_mean),
        "usable_cores": obs.usable_cores,
        "foreign_share": _r(share),
        "run_cpu_cores_mean": _r(obs.cpu_cores_mean),
    }
    return Finding(
        F.CONTENDED,
        F.WARNING,
        ctx.label,
        ev,
        "While this run's trials ran, processes outside it kept a mean "
        f"{obs.foreign_cores_mean:.1f} of {obs.usable_cores} usable cores busy ({share:.0%}; "
        "machine-wide CPU minus this run's process tree). Its trials competed for the cores, so "
        "its speed, and every ratio taken against it, reflect that load rather than the strategy.",
        "Re-run on a quiet machine (stop other jobs; check `uptime` load), or give the run cores "
        "nobody else uses (taskset, a dedicated VM) before trusting its ratios.",
    )


def _contended_hosts(obs: Observation, ctx: RunContext) -> Finding | None:
    """CONTENDED on a cluster, host by host: the driver machine's load says nothing of the nodes,
    and a host's cores are not the Ray CPUs the run's figures count, so the most loaded host is
    compared with its own cores (its CPU minus its Ray nodes' processes; the probe counts as
    other, as it does on one machine)."""
    loads = [h for h in obs.hosts if h.foreign_share is not None]
    worst = max(loads, key=lambda h: h.foreign_share or 0.0, default=None)
    if worst is None or worst.foreign_cores_mean is None or worst.foreign_share is None:
        return None
    if worst.foreign_share < th.CONTENDED_SHARE_MIN:
        return None
    share = worst.foreign_share
    ev = {
        "host": worst.host,
        "foreign_cores_mean": _r(worst.foreign_cores_mean),
        "usable_cores": worst.cores,
        "foreign_share": _r(share),
        "ray_nodes_on_host": worst.nodes,
        "hosts": {h.host: _r(h.foreign_share) for h in obs.hosts},
        "run_cpu_cores_mean": _r(obs.cpu_cores_mean),
    }
    return Finding(
        F.CONTENDED,
        F.WARNING,
        ctx.label,
        ev,
        f"While this run's trials ran, processes outside its Ray nodes kept a mean "
        f"{worst.foreign_cores_mean:.1f} of host {worst.host}'s {worst.cores} cores busy "
        f"({share:.0%}; the host's CPU minus the processes of its {worst.nodes} Ray node(s)). "
        "Trials there competed for the cores, so the run's speed, and every ratio taken against "
        "it, reflect that load rather than the strategy.",
        f"Re-run with {worst.host} quiet (stop other jobs; check `uptime` load there), or give "
        "Ray nodes hosts nobody else uses, before trusting the run's ratios.",
    )


# --- STALLED ------------------------------------------------------------------------------------
def stalled(obs: Observation, ctx: RunContext) -> Finding | None:
    """No progress event for a long stretch."""
    gap = obs.longest_gap
    if gap is None:
        return None
    limit = th.STALL_MIN_GAP_S
    if obs.median_trial_s:
        limit = max(limit, th.STALL_GAP_FACTOR * obs.median_trial_s)
    if gap.seconds < limit:
        return None
    ev = {
        "gap_s": _r(gap.seconds, 1),
        "from_s": _r(gap.start, 1),
        "to_s": _r(gap.end, 1),
        "limit_s": _r(limit, 1),
        "median_trial_s": _r(obs.median_trial_s),
        "trials_done": obs.trials_complete,
        "status": ctx.status,
    }
    median = (
        f", {gap.seconds / obs.median_trial_s:.0f}x the median trial" if obs.median_trial_s else ""
    )
    return Finding(
        F.STALLED,
        F.ERROR,
        ctx.label,
        ev,
        f"No progress (no heartbeat, no trial starting or ending) for {gap.seconds:.0f} s, from "
        f"{gap.start:.0f} s to {gap.end:.0f} s after the run started{median}. "
        f"{obs.trials_complete} trials completed in the whole run (run status: {ctx.status}).",
        "While it hangs, look inside: `bench attach --pid PID` samples its threads and stacks. "
        "Set `--trial-timeout` so one stuck trial cannot hold the search, and prefer a strategy "
        "that can stop a trial (processes; threads cannot be killed).",
    )


# --- STARTUP_DOMINATED --------------------------------------------------------------------------
def startup_dominated(obs: Observation, ctx: RunContext) -> Finding | None:
    """A large share of the wall went by before the first trial started."""
    s = ctx.summary
    if ctx.kind == "inline":
        return None  # the baseline's own start-up is not what a parallel strategy adds
    if s is None or not s.startup or not s.wall or s.startup < th.STARTUP_MIN_S:
        return None
    share = s.startup / s.wall
    if share < th.STARTUP_SHARE_MIN:
        return None
    ev = {
        "startup_s": _r(s.startup),
        "wall_s": _r(s.wall),
        "share": _r(share),
        "work_wall_s": _r(s.work_wall),
        "start_method": s.start_method,
        "wall_speedup": _r(s.wall_speedup),
    }
    return Finding(
        F.STARTUP_DOMINATED,
        F.WARNING,
        ctx.label,
        ev,
        f"{s.startup:.1f} s of the run's {s.wall:.1f} s ({share:.0%}) went by before the first "
        "trial started: starting workers, importing PyTorch in each, starting Ray. Speedups here "
        "are measured over the trials alone; end to end the run "
        + (f"was {s.wall_speedup:.2f}x sequential." if s.wall_speedup else "pays this once."),
        "Measure with more or longer trials (`--preset default`, more `--trials`) so start-up is "
        "amortised; with `spawn`, compare `fork`/`forkserver` (`bench compare --strategies "
        "pool/fork,pool/spawn`) and keep workers alive across trials.",
    )


# --- DISPATCH_OVERHEAD --------------------------------------------------------------------------
def dispatch_overhead(obs: Observation, ctx: RunContext) -> Finding | None:
    """Workers wait between trials for a large share of a trial's duration."""
    gap, median = obs.dispatch_gap_s, obs.median_trial_s
    if gap is None or not median or gap < th.DISPATCH_MIN_S or gap / median < th.DISPATCH_RATIO_MIN:
        return None
    ev = {
        "gap_s_median": _r(gap, 3),
        "trial_s_median": _r(median, 3),
        "ratio": _r(gap / median),
        "gaps": obs.dispatch_gaps,
    }
    return Finding(
        F.DISPATCH_OVERHEAD,
        ctx.severity_by_efficiency(),
        ctx.label,
        ev,
        f"A worker waited a median {gap:.2f} s between consecutive trials, {gap / median:.0%} of "
        f"the median trial ({median:.2f} s): sampling the next parameters (the sampler's ask), "
        "sending them, and returning the result cost a visible share of each worker's time.",
        "Give each task more work (longer trials, several seeds per task), keep results small, "
        "and check the sampler's cost with `--sampler random`.",
    )


# --- HEALTHY ------------------------------------------------------------------------------------
def healthy(obs: Observation, ctx: RunContext, others: list[Finding]) -> Finding | None:
    """No problem found and the useful efficiency is good (the baseline is healthy by design).
    CONTENDED does not count: it is about the machine, and stands beside HEALTHY as a caution."""
    problems = [f for f in others if f.severity in (F.ERROR, F.WARNING) and f.code != F.CONTENDED]
    if ctx.status != "ok" or problems:
        return None
    if ctx.kind == "inline":
        return Finding(
            F.HEALTHY,
            F.OK,
            ctx.label,
            {"trials_done": obs.trials_complete, "busy_processes_peak": obs.busy_procs_peak},
            "The sequential baseline: one trial at a time in one process, as designed. Every "
            "speedup in this report is measured against it.",
            "Nothing to change; it is the yardstick.",
        )
    eff = ctx.efficiency
    if eff is None or eff < th.HEALTHY_MIN_EFFICIENCY:
        return None
    ev = {
        "efficiency": _r(eff),
        "speedup": _r(ctx.summary.speedup if ctx.summary else None),
        "busy_processes_peak": obs.busy_procs_peak,
        "cpu_share": _r(obs.cpu_share),
    }
    return Finding(
        F.HEALTHY,
        F.OK,
        ctx.label,
        ev,
        f"Useful efficiency {eff:.0%} with {obs.busy_procs_peak} busy worker process(es); no "
        "rule found a problem.",
        "Keep it this way: guard the speedup in CI with `bench gate`.",
    )


RUN_RULES: tuple[Rule, ...] = (
    stalled,
    gil_bound,
    threads_not_processes,
    oversubscribed,
    spin_wait,
    startup_dominated,
    dispatch_overhead,
    undersubscribed,
    contended,
)
LIVE_RULES: tuple[Rule, ...] = (gil_bound, threads_not_processes_live, oversubscribed, contended)
# Findings that already explain idle cores: UNDERSUBSCRIBED beside them would only repeat them.
_EXPLAINS_IDLE = (F.STALLED, F.GIL_BOUND, F.THREADS_NOT_PROCESSES)


def apply(obs: Observation, ctx: RunContext, rules: tuple[Rule, ...] = RUN_RULES) -> list[Finding]:
    """Every finding of one run, root cause first, HEALTHY when nothing else applies."""
    out = [f for rule in rules if (f := rule(obs, ctx)) is not None]
    if any(f.code in _EXPLAINS_IDLE for f in out):
        out = [f for f in out if f.code != F.UNDERSUBSCRIBED]
    if rules is RUN_RULES:
        ok = healthy(obs, ctx, out)
        if ok is not None:
            out.append(ok)
    return F.by_priority(out)
