"""The worker process of optuna-journal: it loads the shared study and runs `study.optimize` on
it, writing its own trial records (each after its tell, with that trial's storage time), and
tells the supervising parent over a pipe which trial it starts and ends, and, when it has to
stop outside a trial (the storage gone), why, in one masked line."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.strategies._procs import READY, init_worker
from bench.strategies._study import error_text, make_pruner, make_sampler, open_storage
from bench.trial import heartbeat
from bench.trial.execute import Outcome, TrialRecord, call_objective, preload, worker_id
from bench.workload.objective import ObjectiveRef
from probes.sink import JsonlSink


@dataclass(frozen=True)
class WorkerJob:
    """What one worker process needs (picklable, for spawn)."""

    storage: str
    study_name: str
    sampler: str
    seed: int
    share: int
    objective: ObjectiveRef
    threads: int | None
    label: str
    strategy: str
    heartbeat_path: str | None
    trials_path: str
    budget: int | None = None  # shared study: stop once it holds this many trials
    owner: str = ""  # host:pid of the bench process that supervises this worker
    pruner: str = "none"


# User attributes each trial of a shared study gets, so a study that several machines feed says
# who ran what (and a supervisor closes only its own trials).
ATTR_WORKER = "corebench_worker"
ATTR_OWNER = "corebench_owner"
ATTR_OVER_BUDGET = "corebench_over_budget"


class _OverBudget(Exception):
    """The storage gave this worker a trial number past the shared study's budget."""


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_worker(conn: Connection, job: WorkerJob, parent_pid: int) -> None:
    """Worker process: optimize the shared study for `job.share` trials, recording each one. A
    failure outside the trials (the storage gone, a bad URL) goes to the parent as one line."""
    try:
        _optimize(conn, job, parent_pid)
    except Exception as exc:
        import traceback

        from probes.redact import redact_arg

        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", error_text(_root_cause(exc))))
        # The whole story for the run's log (bench.log), masked like every line corebench writes.
        print("\n".join(redact_arg(line) for line in traceback.format_exc().splitlines()), file=sys.stderr)
        raise SystemExit(1) from None


def _root_cause(exc: BaseException) -> BaseException:
    """The storage's own error when one is in the chain: Optuna's clean-up after a failed tell
    can raise an unrelated error of its own (a variable never set) while handling it."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    storage = [e for e in seen if type(e).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "psycopg2")
               or isinstance(e, OSError)]
    return storage[-1] if storage else exc


def _optimize(conn: Connection, job: WorkerJob, parent_pid: int) -> None:
    init_worker(job.threads, parent_pid)
    import optuna

    from bench.strategies import _storage_time

    # Our records carry each failure; Optuna's own per-trial warning would only repeat it.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(
        study_name=job.study_name, storage=open_storage(job.storage),
        sampler=make_sampler(job.sampler, job.seed), pruner=make_pruner(job.pruner),
    )
    preload(job.objective)
    fn = job.objective.load()
    out = JsonlSink(Path(job.trials_path))
    conn.send(READY)
    budget = job.budget
    if budget is not None and len(study.get_trials(deepcopy=False)) >= budget:
        return  # the other processes spent the budget while this one started
    # A trial's record waits for its tell (the callback below), so that its storage time counts
    # every call made for it: ask, suggest and report, user attributes, tell.
    finished: dict[int, TrialRecord] = {}
    mark = [0.0]  # storage seconds of this worker when the previous trial was recorded

    def objective(trial: optuna.Trial) -> float:
        from bench.trial import threads as thread_policy
        me = worker_id()
        if budget is not None:  # shared study only: a run of its own keeps its per-trial cost
            trial.set_user_attr(ATTR_OWNER, job.owner)
            if trial.number >= budget:
                trial.set_user_attr(ATTR_OVER_BUDGET, True)
                study.stop()
                raise _OverBudget(f"trial {trial.number} is past the study's budget of {budget}")
            trial.set_user_attr(ATTR_WORKER, me)
        start = time.time()
        conn.send(("start", trial.number, start))
        outcome = Outcome()
        try:
            with heartbeat.trial(job.heartbeat_path, job.label, trial.number, me):
                return call_objective(fn, trial, outcome)
        finally:
            finished[trial.number] = TrialRecord(
                number=trial.number, state=outcome.state, value=outcome.value,
                params=dict(trial.params), start=start, end=time.time(), pid=os.getpid(), worker=me,
                torch_threads=thread_policy.current_torch_threads(), run=job.label,
                strategy=job.strategy, error=outcome.error,
            )

    def record(study: optuna.Study, frozen: Any) -> None:
        now = _storage_time.seconds()
        rec = finished.pop(frozen.number, None)
        if rec is not None:  # None: an over-budget number, which ran nothing
            out.append(rec.with_(storage_s=now - mark[0]).to_dict())
            conn.send(("end", frozen.number))
        mark[0] = now

    # After each trial, stop once the study holds the budget (numbers still decide who runs).
    callbacks: list[Any] = [record]
    if budget is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(budget, states=None))
    mark[0] = _storage_time.seconds()
    # catch: a raising trial is FAIL in the study and `failed` in the records; the worker goes on.
    study.optimize(objective, n_trials=job.share, catch=(Exception,), callbacks=callbacks)
