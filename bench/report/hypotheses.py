"""The usual explanations for "the parallel search does not use the cores", each decided by the
runs that can decide it: proven, refuted, inconclusive (the deciding runs ran but did not settle
it), or not tested (they did not run). Never guessed from other rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from bench.analysis.diagnose import Diagnosis
from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings import gil_bound, oversubscribed
from bench.records.kinds import WORKER_KINDS
from bench.report import cells as c

PROVEN = "proven"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"
NOT_TESTED = "not tested"

# A process run at or above this useful efficiency shows PyTorch parallelises fine at this size.
TORCH_OK_EFFICIENCY = 0.6
# A threads run at or above this useful efficiency scales: the GIL is not what limits it.
THREADS_SCALE_EFFICIENCY = 0.6
# Two start methods whose work-phase throughputs differ by at least this share "matter".
START_METHOD_DIFF = 0.15


@dataclass(frozen=True)
class Hypothesis:
    """One explanation, its verdict, the run labels that decide it and why."""

    claim: str
    verdict: str
    rows: tuple[str, ...]
    evidence: str


def _kind_rows(d: Diagnosis, *kinds: str) -> list[str]:
    """Parallel runs (more than one worker) of the given kinds, in plan order."""
    return [lb for lb, ctx in d.contexts.items() if ctx.kind in kinds and ctx.workers > 1]


def _contended(d: Diagnosis, rows: list[str]) -> list[str]:
    """Rows measured while other processes held the cores: a throughput ratio between them is
    the load's as much as the strategies', so it cannot prove or refute anything."""
    return [lb for lb in rows if any(f.code == F.CONTENDED for f in d.findings.get(lb, []))]


def _load_caveat(d: Diagnosis, rows: list[str]) -> str:
    busy = _contended(d, rows)
    names = ", ".join(f"`{lb}`" for lb in busy)
    return (
        f"; {names} ran while other processes held the cores (CONTENDED): re-run on a quiet "
        "machine"
    )


def _speedup(d: Diagnosis, label: str) -> float | None:
    s = d.recorded.summaries.get(label)
    return None if s is None else s.speedup


def backend_serialises(d: Diagnosis) -> Hypothesis:
    claim = "The parallel backend serialises long trials / refuses to spawn workers"
    threads = _kind_rows(d, "threads")
    joblib = [lb for lb, s in d.recorded.summaries.items() if s.strategy == "joblib-loky"]
    rows = tuple(
        lb for lb in threads + joblib
        if d.observations[lb].trials_ran or d.observations[lb].inflight_peak
    )
    if not rows:
        need = "needs an `optuna-threads` or `joblib-loky` row that ran trials"
        return Hypothesis(claim, NOT_TESTED, (), need)
    parts, concurrent, serial = [], False, True
    for lb in rows:
        obs = d.observations[lb]
        if lb in threads:
            parts.append(
                f"`{lb}` had {obs.inflight_peak} trials in flight at once in {obs.trial_pids} "
                "process(es): `n_jobs` runs trials as threads of one process, by design"
            )
            concurrent |= obs.inflight_peak >= th.PARALLEL_MIN_INFLIGHT
            serial &= obs.inflight_peak <= 1 and obs.trials_ran >= 2
        else:
            seen = d.processes_seen(lb)
            workers = d.contexts[lb].workers
            parts.append(f"`{lb}` started {seen} busy worker process(es) for {workers} workers")
            concurrent |= seen >= 2
            serial &= seen <= 1 and obs.trials_ran >= 2
    verdict = REFUTED if concurrent else PROVEN if serial else INCONCLUSIVE
    return Hypothesis(claim, verdict, rows, "; ".join(parts))


def multiprocessing_broken(d: Diagnosis) -> Hypothesis:
    claim = "multiprocessing does not work on this machine"
    rows = _kind_rows(d, "processes")
    if not rows:
        need = "needs a process-based row (`pool`, `joblib-loky`, `optuna-journal`)"
        return Hypothesis(claim, NOT_TESTED, (), need)
    obs = d.observations
    works = [lb for lb in rows if obs[lb].trial_pids >= 2 and obs[lb].inflight_peak >= 2]
    if works:
        ev = "; ".join(
            f"`{lb}` ran trials in {obs[lb].trial_pids} processes, {obs[lb].inflight_peak} at "
            f"once, speedup {c.times(_speedup(d, lb))}"
            for lb in works
        )
        return Hypothesis(claim, REFUTED, tuple(works), ev)
    broken = [
        lb for lb in rows
        if d.contexts[lb].status in ("failed", "crashed")
        or (obs[lb].trials_ran >= 2 and obs[lb].trial_pids <= 1)
    ]
    if broken:
        parts = []
        for lb in broken:
            s = d.recorded.summaries.get(lb)
            reason = f" ({c.md(s.reason)})" if s is not None and s.reason else ""
            parts.append(
                f"`{lb}`: {d.contexts[lb].status}{reason}, "
                f"{obs[lb].trial_pids} process(es) ran trials"
            )
        return Hypothesis(claim, PROVEN, tuple(broken), "; ".join(parts))
    few = "the process rows ran too few trials to tell"
    return Hypothesis(claim, INCONCLUSIVE, tuple(rows), few)


def torch_breaks(d: Diagnosis) -> Hypothesis:
    claim = "PyTorch breaks parallelism at this scale"
    if d.recorded.config.get("objective"):
        why = "the objective is a user function, not the PyTorch GA"
        return Hypothesis(claim, NOT_TESTED, (), why)
    rows = tuple(
        lb for lb in _kind_rows(d, "processes", "ray")
        if (s := d.contexts[lb].summary) is not None and d.contexts[lb].status == "ok"
        and s.efficiency is not None and s.threads_policy != "unlimited"
    )
    if not rows:
        need = (
            "needs a process-based row with a thread limit (e.g. `pool`) and the sequential "
            "baseline"
        )
        return Hypothesis(claim, NOT_TESTED, (), need)
    best = max(rows, key=lambda lb: d.contexts[lb].efficiency or 0.0)
    s = d.recorded.summaries[best]
    ev = (
        f"`{best}` ran the same PyTorch GA at {c.times(s.speedup)} sequential with {s.workers} "
        f"workers ({c.pct(s.efficiency)} useful efficiency)"
    )
    if (s.efficiency or 0.0) >= TORCH_OK_EFFICIENCY:
        return Hypothesis(claim, REFUTED, (best,), ev)
    codes = sorted({
        f.code for lb in rows for f in d.findings.get(lb, []) if f.severity in (F.ERROR, F.WARNING)
    })
    more = f"; their findings ({', '.join(codes)}) offer other explanations" if codes else ""
    return Hypothesis(claim, INCONCLUSIVE, rows, f"{ev}, below {TORCH_OK_EFFICIENCY:.0%}{more}")


def oversubscription(d: Diagnosis) -> Hypothesis:
    claim = "Thread oversubscription"
    pairs = [
        (lb, ctx.summary, ctx.limited) for lb, ctx in d.contexts.items()
        if ctx.limited is not None and ctx.summary is not None and ctx.summary.throughput
    ]
    if not pairs:
        need = (
            "needs a `pool@unlimited` and `pool@auto` (or `pool`) pair: same strategy and start "
            "method"
        )
        return Hypothesis(claim, NOT_TESTED, (), need)
    parts, proven, rows = [], False, []
    for lb, mine, lim in pairs:
        assert mine is not None and lim is not None and mine.throughput and lim.throughput
        ratio = mine.throughput / lim.throughput
        per_core = d.observations[lb].runnable_per_core
        text = f"`{lb}` ran trials at {ratio:.0%} of `{lim.label}`'s rate"
        if per_core is not None:
            text += f", {per_core:.1f} runnable threads per core"
        if any(f.code == F.OVERSUBSCRIBED for f in d.findings.get(lb, [])):
            text += " (OVERSUBSCRIBED)"
        parts.append(text)
        proven |= ratio < oversubscribed.OVERSUB_SLOWDOWN
        rows += [lb, lim.label]
    rows = list(dict.fromkeys(rows))
    if _contended(d, rows):
        evidence = "; ".join(parts) + _load_caveat(d, rows)
        return Hypothesis(claim, INCONCLUSIVE, tuple(rows), evidence)
    tail = "" if proven else (
        f" (within {1 - oversubscribed.OVERSUB_SLOWDOWN:.0%}: not at this size on this machine)"
    )
    return Hypothesis(claim, PROVEN if proven else REFUTED, tuple(rows), "; ".join(parts) + tail)


def the_gil(d: Diagnosis) -> Hypothesis:
    claim = "The GIL"
    rows = tuple(
        lb for lb in _kind_rows(d, "threads")
        if d.observations[lb].pid_inflight_peak >= th.PARALLEL_MIN_INFLIGHT
    )
    if not rows:
        need = "needs an `optuna-threads` row with trials running concurrently"
        return Hypothesis(claim, NOT_TESTED, (), need)
    for lb in rows:
        gil = next((f for f in d.findings.get(lb, []) if f.code == F.GIL_BOUND), None)
        if gil is None:
            continue
        ev = cast(gil_bound.Evidence, gil.evidence)
        cpu = f"{ev['process_cpu_pct_median']}% CPU of {ev['usable_cores']} cores"
        if ev["source"] == "kernel":
            text = (
                f"`{lb}`: working Python threads spent {c.pct(ev.get('gil_wait_share'))} of their "
                f"time waiting for the GIL (kernel scheduler figures after "
                f"{ev['stack_samples']} stack dumps; {ev.get('reads_blocked_on_gil')} syscall "
                f"reads caught one asleep on the GIL's futex); the process used {cpu}"
            )
        elif ev["source"] == "stacks":
            text = (
                f"`{lb}`: {c.pct(ev.get('gil_wait_share'))} of active Python threads waiting for "
                f"the GIL in {ev['stack_samples']} stack samples; the process used {cpu}"
            )
        else:
            text = (
                f"`{lb}`: {ev.get('trials_in_flight_peak')} trials in flight in one process that "
                f"used {cpu} (inferred from CPU: no stack samples)"
            )
        return Hypothesis(claim, PROVEN, (lb,), text)
    # Refuted only by threads that really ran at once: the process used more than one core
    # (a speedup at one core comes from a cheaper trial, not from parallel threads).
    for lb in rows:
        eff, used = d.contexts[lb].efficiency, d.observations[lb].busiest_cpu_pct
        if (
            used is not None and used > gil_bound.GIL_ONE_CORE_MAX_PCT
            and eff is not None and eff >= THREADS_SCALE_EFFICIENCY
        ):
            text = (
                f"`{lb}` reached {c.pct(eff)} useful efficiency with its threads using "
                f"{used:.0f}% CPU in one process: the objective releases the GIL"
            )
            return Hypothesis(claim, REFUTED, (lb,), text)
    parts = []
    for lb in rows:
        obs = d.observations[lb]
        cpu = "" if obs.busiest_cpu_pct is None else f"{obs.busiest_cpu_pct:.0f}% CPU, "
        parts.append(
            f"`{lb}`: {cpu}{c.pct(d.contexts[lb].efficiency)} useful efficiency, no thread seen "
            "waiting for the GIL"
        )
    return Hypothesis(claim, INCONCLUSIVE, rows, "; ".join(parts))


def _start_method_pairs(d: Diagnosis) -> list[tuple[str, str]]:
    """(fork, spawn) labels of the same strategy and thread policy."""
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for lb, s in d.recorded.summaries.items():
        if d.contexts[lb].kind in WORKER_KINDS and s.start_method in ("fork", "spawn"):
            groups.setdefault((s.strategy, s.threads_policy), {}).setdefault(s.start_method, lb)
    return [(g["fork"], g["spawn"]) for g in groups.values() if {"fork", "spawn"} <= set(g)]


def start_method(d: Diagnosis) -> Hypothesis:
    claim = "fork vs spawn matters"
    pairs = _start_method_pairs(d)
    if not pairs:
        need = "needs a `pool/fork` and a `pool/spawn` row (same thread policy)"
        return Hypothesis(claim, NOT_TESTED, (), need)
    parts, proven, compared = [], False, 0
    for fork, spawn in pairs:
        sf, ss = d.recorded.summaries[fork], d.recorded.summaries[spawn]
        if (sf.status == "ok") != (ss.status == "ok"):
            bad = ss if sf.status == "ok" else sf
            parts.append(f"`{bad.label}` {bad.status}" + (f": {c.md(bad.reason)}" if bad.reason else ""))
            proven = True
            continue
        if not sf.throughput or not ss.throughput:
            parts.append(f"`{fork}` and `{spawn}` completed no trials to compare")
            continue
        ratio = ss.throughput / sf.throughput
        text = f"`{spawn}` ran trials at {ratio:.0%} of `{fork}`'s rate"
        if sf.startup is not None and ss.startup is not None:
            text += f"; start-up {sf.startup:.1f} s (fork) vs {ss.startup:.1f} s (spawn)"
        parts.append(text)
        compared += 1
        proven |= abs(1 - ratio) >= START_METHOD_DIFF
    rows = tuple(lb for pair in pairs for lb in pair)
    if compared and _contended(d, list(rows)):
        return Hypothesis(claim, INCONCLUSIVE, rows, "; ".join(parts) + _load_caveat(d, list(rows)))
    if proven:
        return Hypothesis(claim, PROVEN, rows, "; ".join(parts))
    if compared == len(pairs):
        tail = (
            f" (within {START_METHOD_DIFF:.0%}: the start method changes start-up, "
            "not throughput)"
        )
        return Hypothesis(claim, REFUTED, rows, "; ".join(parts) + tail)
    return Hypothesis(claim, INCONCLUSIVE, rows, "; ".join(parts))


CHECKS: tuple[Callable[[Diagnosis], Hypothesis], ...] = (
    backend_serialises, multiprocessing_broken, torch_breaks, oversubscription, the_gil,
    start_method,
)


def evaluate(d: Diagnosis) -> list[Hypothesis]:
    """Every hypothesis, in the order the report prints them."""
    return [check(d) for check in CHECKS]
