"""STORAGE_BOUND: Optuna's storage calls, not the cores, take the workers' time.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
Two kinds of evidence fire it: one run whose storage calls (ask, suggest, report, tell: the
`storage_s` of each trial record) take a large share of the time of the threads that make them,
and a sweep in which the storage time per trial grows with the number of workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Required, TypedDict, cast

from bench.analysis.diagnose.findings._base import (
    ERROR,
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    pct,
    r,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "STORAGE_BOUND"
RUNBOOK = "runbooks/STORAGE_BOUND.md"

# Share of the storage callers' time (each worker for optuna-journal/optuna-threads, the parent
# for ask/tell strategies) spent inside storage calls from which the storage is a limit: a third
# of every worker's time is waiting on the database, not searching.
STORAGE_SHARE_MIN = 0.3
# From this share the storage is the limit rather than one cost among others.
STORAGE_SHARE_ERROR = 0.5
# Fewer timed trials than this say nothing about a per-trial cost (the first ask creates tables).
STORAGE_MIN_TRIALS = 5
# A sweep: storage seconds per trial at the largest worker count over those at the smallest
# from which the storage slows down as processes are added (contention, not a fixed cost) ...
STORAGE_GROWTH_MIN = 2.0
# ... as long as it is a visible share there (a 1 ms cost that doubles is still nothing).
STORAGE_SWEEP_SHARE_MIN = 0.1


class PointEvidence(TypedDict):
    """One worker count of a sweep in STORAGE_BOUND's evidence."""

    workers: int
    storage_ms_per_trial: float | None
    storage_share: float | None
    trials_per_s: float | None


class Evidence(TypedDict, total=False):
    """What STORAGE_BOUND records: the backend, then one run's storage share, or a sweep's growth
    of storage time per trial."""

    storage: Required[str]
    # One run.
    storage_share: float | None
    storage_ms_per_trial: float | None
    trial_s_median: float | None
    trials_timed: int
    workers: int
    # A sweep.
    growth: float | None
    points: list[PointEvidence]
    limit_from_workers: int | None


_ADVICE = {
    "journal file": "move the study to an RDB server (`--storage postgresql://…`): one journal "
                    "file is one lock that every process takes for every write",
    "sqlite": "move the study to PostgreSQL (`--storage postgresql://…`): SQLite lets one writer "
              "in at a time, the others wait (or fail with `database is locked`)",
    "postgresql": "put Optuna's gRPC storage proxy (`optuna.storages.run_grpc_proxy_server`) in "
                  "front of the database, so the processes share one connection and its cache "
                  "instead of each reading the whole study",
    "mysql": "put Optuna's gRPC storage proxy (`optuna.storages.run_grpc_proxy_server`) in front "
             "of the database, so the processes share one connection and its cache",
    "in-memory": "the in-memory study itself is slow to read at this size: use a sampler that "
                 "reads less history (`--sampler random`), or fewer, longer trials",
}
_ALWAYS = "fewer, longer trials (more generations or seeds per trial) divide the per-trial cost"


def advice(backend: str) -> str:
    """What to change for a storage-bound run on `backend`."""
    first = _ADVICE.get(backend, "use an RDB server (PostgreSQL) behind Optuna's gRPC storage proxy")
    return f"{first[0].upper()}{first[1:]}; {_ALWAYS}."


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """The storage calls of this run took a large share of their callers' time."""
    s = ctx.summary
    if s is None or s.storage_share is None or s.storage_trials < STORAGE_MIN_TRIALS:
        return None
    share = s.storage_share
    if share < STORAGE_SHARE_MIN:
        return None
    per = s.storage_per_trial or 0.0
    callers = (f"its {s.storage_callers} worker(s) (each calls the storage itself)"
               if s.storage_in_workers else "the parent (it asks and tells for every worker)")
    ev: Evidence = {
        "storage": s.storage,
        "storage_share": r(share),
        "storage_ms_per_trial": r(per * 1000, 1),
        "trial_s_median": r(obs.median_trial_s, 4),
        "trials_timed": s.storage_trials,
        "workers": ctx.workers,
    }
    trial = "" if obs.median_trial_s is None else f" against a median trial of {obs.median_trial_s:.3f} s"
    return Finding(
        CODE,
        ERROR if share >= STORAGE_SHARE_ERROR else WARNING,
        ctx.label,
        ev,
        f"Storage calls (ask, suggest, report, tell) on {s.storage or 'the storage'} took "
        f"{share:.0%} of the time of {callers}: {per * 1000:.1f} ms per trial{trial}. More "
        "processes would wait on the storage, not search.",
        advice(s.storage),
    )


@dataclass(frozen=True)
class SweepPoint:
    """One worker count of a sweep, as far as storage goes."""

    workers: int
    storage_per_trial: float | None  # seconds
    storage_share: float | None
    throughput: float | None = None


def sweep_rule(label: str, backend: str, points: Sequence[SweepPoint]) -> Finding | None:
    """Storage time per trial grows with the number of workers, to a visible share."""
    timed = sorted((p for p in points if p.storage_per_trial), key=lambda p: p.workers)
    if len(timed) < 2:
        return None
    low, high = timed[0], timed[-1]
    assert low.storage_per_trial and high.storage_per_trial
    growth = high.storage_per_trial / low.storage_per_trial
    if growth < STORAGE_GROWTH_MIN or (high.storage_share or 0.0) < STORAGE_SWEEP_SHARE_MIN:
        return None
    limit_from = next((p.workers for p in timed if (p.storage_share or 0.0) >= STORAGE_SHARE_MIN), None)
    ev: Evidence = {
        "storage": backend,
        "growth": r(growth),
        "points": [
            {"workers": p.workers, "storage_ms_per_trial": r((p.storage_per_trial or 0) * 1000, 2),
             "storage_share": r(p.storage_share), "trials_per_s": r(p.throughput)}
            for p in timed
        ],
        "limit_from_workers": limit_from,
    }
    where = (f"; from {limit_from} worker(s) on it takes over {STORAGE_SHARE_MIN:.0%} of their time"
             if limit_from is not None else "")
    return Finding(
        CODE,
        ERROR if limit_from is not None else WARNING,
        label,
        ev,
        f"Each trial's {backend} storage calls took {low.storage_per_trial * 1000:.1f} ms at "
        f"{low.workers} worker(s) and {high.storage_per_trial * 1000:.1f} ms at {high.workers} "
        f"({growth:.1f}x){where}: the storage slows down as processes are added.",
        advice(backend),
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    if "growth" in e:
        return f"storage time per trial grew {e['growth']}x with more workers ({e['storage']})"
    return f"spent {pct(e.get('storage_share'))} of its time in {e['storage']} storage calls"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
