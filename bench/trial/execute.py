"""One trial: what a worker is sent (TrialSpec), what it sends back (TrialRecord), and `execute`."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field, fields, replace
from typing import Any

from bench.trial import heartbeat
from bench.trial import threads as thread_policy
from bench.workload.objective import ObjectiveRef

COMPLETE = "complete"
FAILED = "failed"
TIMEOUT = "timeout"
CRASHED = "crashed"
CANCELLED = "cancelled"
STATES = (COMPLETE, FAILED, TIMEOUT, CRASHED, CANCELLED)
ERROR_MAX_CHARS = 300


@dataclass(frozen=True)
class TrialSpec:
    """Everything a worker needs to run one trial; picklable, sent to any process."""

    number: int
    params: dict[str, Any]
    objective: ObjectiveRef
    run: str
    threads: int | None = None
    heartbeat_path: str | None = None


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, as appended to trials.jsonl."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    start: float
    end: float
    pid: int
    worker: str
    torch_threads: int | None
    run: str = ""
    strategy: str = ""
    host: str = field(default_factory=socket.gethostname)
    error: str | None = None
    # Every process that ran this one trial, when more than one did (islands: one per island).
    pids: list[int] | None = None
    # The Ray node that ran it (ray strategy; None elsewhere or when the task never reported).
    node: str | None = None
    # Wall seconds of this trial's Optuna storage calls (ask, suggest, report, tell), wherever
    # they ran (the parent for ask/tell strategies, the worker for optuna-journal); None when the
    # trial never reached the storage through a timed path (a worker killed mid-trial).
    storage_s: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies params, a measurable share of the
        # per-trial dispatch cost, for a dict that is serialised at once.
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["params"] = dict(self.params)
        return out

    def with_(self, **changes: Any) -> TrialRecord:
        return replace(self, **changes)


def error_summary(exc: BaseException) -> str:
    """`Type: message (file:line)`, short enough for a table cell."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    text = f"{type(exc).__name__}: {exc}{where}"
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_native_id()}"


def lost(
    spec: TrialSpec, state: str, error: str, start: float, pid: int = 0, worker: str = "",
) -> TrialRecord:
    """A record for a trial that never reported back (killed, timed out, crashed, cancelled)."""
    return TrialRecord(
        number=spec.number, state=state, value=None, params=dict(spec.params), start=start,
        end=time.time(), pid=pid, worker=worker, torch_threads=spec.threads, run=spec.run,
        error=error,
    )


def preload(objective: ObjectiveRef) -> None:
    """Import what trials of `objective` need (torch, the user's module), so that a worker pays
    for imports once at start-up and never inside a trial's clock or timeout."""
    try:
        objective.load()
        if objective.user is None:
            import torch  # noqa: F401
    except Exception:
        pass  # execute() loads it again and records the failure as the trial's


def prepare(spec: TrialSpec) -> None:
    """Thread policy and imports, before a trial's clock and timeout start: a timeout must never
    land inside `import torch` (it would leave a half-imported module behind)."""
    thread_policy.apply(spec.threads)
    preload(spec.objective)


@dataclass
class Outcome:
    """What a trial's record says of the objective's call: state, value and error."""

    state: str = COMPLETE
    value: float | None = None
    error: str | None = None


def call_objective(fn: Any, trial: Any, outcome: Outcome) -> float:
    """Call `fn(trial)` as Optuna would and fill `outcome` for the trial record.

    Returns the raw value (NaN included: Optuna fails that trial itself) and re-raises what the
    objective raises, so a caller inside `study.optimize` keeps Optuna's own handling.
    """
    try:
        raw = float(fn(trial))
    except Exception as exc:
        outcome.state, outcome.error = FAILED, error_summary(exc)
        raise
    if math.isnan(raw):
        outcome.state, outcome.error = FAILED, "objective returned NaN"
    else:
        outcome.value = raw
    return raw


def execute(spec: TrialSpec) -> TrialRecord:
    """Run one trial in the current process/thread; never raises for the objective's failures."""
    import optuna

    thread_policy.apply(spec.threads)
    start = time.time()
    outcome = Outcome()
    with heartbeat.trial(spec.heartbeat_path, spec.run, spec.number, worker_id()):
        try:
            objective = spec.objective.load()
            trial = optuna.trial.FixedTrial(spec.params, number=spec.number)
            call_objective(objective, trial, outcome)
        except Exception as exc:
            if outcome.error is None:  # the objective's own failure is already in outcome
                outcome.state, outcome.error = FAILED, error_summary(exc)
    return TrialRecord(
        number=spec.number, state=outcome.state, value=outcome.value, params=dict(spec.params),
        start=start, end=time.time(), pid=os.getpid(), worker=worker_id(),
        torch_threads=thread_policy.current_torch_threads(), run=spec.run, error=outcome.error,
    )
