"""One trial: what a worker is sent (TrialSpec), what it sends back (TrialRecord), and `execute`."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from bench.trial import heartbeat
from bench.trial import threads as thread_policy
from bench.workload.objective import ObjectiveRef

if TYPE_CHECKING:
    from bench.trial.remote import Channel

COMPLETE = "complete"
PRUNED = "pruned"  # stopped early by the study's pruner: a finished trial, like complete
FAILED = "failed"
TIMEOUT = "timeout"
CRASHED = "crashed"
CANCELLED = "cancelled"
STATES = (COMPLETE, PRUNED, FAILED, TIMEOUT, CRASHED, CANCELLED)
# Trials that ran to the end the objective (or its pruner) chose: the work a run got done.
DONE_STATES = (COMPLETE, PRUNED)
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
    # Define-by-run: the parent's trial answers each suggest_* / report / should_prune over this
    # channel (`params` is then empty). None: `params` were sampled in the parent from a
    # declared search space and the worker runs a FixedTrial of them (no round trip per param).
    channel: Channel | None = None


class RunControl(BaseException):
    """Our own stops (a trial's timeout, a run's stop request): never an objective's failure.
    A BaseException so that an objective's `except Exception` cannot swallow it."""


class ObjectiveAborted(Exception):
    """The objective raised a BaseException (sys.exit, KeyboardInterrupt, ...): for the study
    and the record a failed trial like any other, so the run goes on."""


class BadObjectiveValue(Exception):
    """The objective returned something that is not one number."""


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
    message = str(exc)
    text = f"{type(exc).__name__}: {message}{where}" if message else f"{type(exc).__name__}{where}"
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


def as_value(returned: Any) -> float:
    """The one number a single-objective study needs from what the objective returned."""
    what = type(returned).__name__
    if returned is None:
        raise BadObjectiveValue("objective returned None, not a number (a missing `return`?)")
    if isinstance(returned, (str, bytes)):
        raise BadObjectiveValue(f"objective returned a {what} ({returned[:40]!r}), not a number")
    if isinstance(returned, (tuple, list)):
        raise BadObjectiveValue(
            f"objective returned a {what} of {len(returned)} values; this study is "
            "single-objective: return one number"
        )
    try:
        return float(returned)
    except (TypeError, ValueError):
        raise BadObjectiveValue(f"objective returned a {what}, not a number") from None


def _aborted(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"objective called sys.exit({exc.code!r})"
    return f"objective raised {error_summary(exc)}"


def call_objective(fn: Any, trial: Any, outcome: Outcome) -> float:
    """Call `fn(trial)` as Optuna would and fill `outcome` for the trial record.

    Returns the raw value (NaN included: Optuna fails that trial itself) and re-raises what the
    objective raises as an Exception (TrialPruned as it is), so a caller inside `study.optimize`
    keeps Optuna's own handling and its `catch=(Exception,)` holds for sys.exit too.
    """
    import optuna

    try:
        returned = fn(trial)
    except optuna.TrialPruned:
        outcome.state = PRUNED
        raise
    except Exception as exc:
        outcome.state, outcome.error = FAILED, error_summary(exc)
        raise
    except RunControl:
        raise
    except BaseException as exc:  # sys.exit, KeyboardInterrupt, GeneratorExit... from user code
        outcome.state, outcome.error = FAILED, _aborted(exc)
        raise ObjectiveAborted(outcome.error) from exc
    try:
        raw = as_value(returned)
    except BadObjectiveValue as exc:
        outcome.state, outcome.error = FAILED, str(exc)
        raise
    if math.isnan(raw):
        outcome.state, outcome.error = FAILED, "objective returned NaN"
    else:
        outcome.value = raw
    return raw


def _worker_trial(spec: TrialSpec) -> Any:
    if spec.channel is not None:
        from bench.trial.remote import RemoteTrial

        return RemoteTrial(spec.channel, spec.number)
    import optuna

    return optuna.trial.FixedTrial(spec.params, number=spec.number)


def execute(spec: TrialSpec, trial: Any = None) -> TrialRecord:
    """Run one trial in the current process/thread; never raises for the objective's failures.

    `trial`: the study's own optuna.Trial when the trial runs where the study lives
    (sequential); else a FixedTrial of `spec.params`, or a RemoteTrial over `spec.channel`.
    """
    thread_policy.apply(spec.threads)
    start = time.time()
    outcome = Outcome()
    with heartbeat.trial(spec.heartbeat_path, spec.run, spec.number, worker_id()):
        try:
            objective = spec.objective.load()
            call_objective(objective, trial or _worker_trial(spec), outcome)
        except Exception as exc:  # optuna.TrialPruned included
            if outcome.error is None and outcome.state != PRUNED:  # else already in outcome
                outcome.state, outcome.error = FAILED, error_summary(exc)
    # A study's own trial knows its params; a RemoteTrial's are the parent's to fill in.
    params = dict(trial.params) if trial is not None else dict(spec.params)
    return TrialRecord(
        number=spec.number, state=outcome.state, value=outcome.value, params=params,
        start=start, end=time.time(), pid=os.getpid(), worker=worker_id(),
        torch_threads=thread_policy.current_torch_threads(), run=spec.run, error=outcome.error,
    )
