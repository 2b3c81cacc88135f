"""optuna-journal: W processes, each running `study.optimize` on one shared study.

The study lives in `JournalStorage(JournalFileBackend(<results>/journal-<run>.log))`, or in the RDB
given by --storage, so every worker samples from everything finished so far (TPE stays TPE) and
objectives stay define-by-run: the fix the original search thought impossible. N trials are split
over the workers (the first N % W take one more), so exactly N run in total.

With --study-name the study is shared with other `bench run` processes, on this machine or others,
through the same --storage. N is then the study's budget, not this process's: every worker runs
trials until the study holds N, counted by trial number, which the storage hands out atomically
(numbers 0..N-1 are the budget). A worker that loses the race for the last number marks that
trial FAIL with the user attribute `corebench_over_budget` before running anything, and stops.

Workers write their own trial records. Each also tells the parent, over a pipe, which trial it
starts and when it ends one, so the parent can stop a trial: past the timeout, or when its worker
died, the worker is gone (killed), the trial is marked FAIL in the storage and recorded `timeout` /
`crashed` here, and a replacement worker runs what is left of that worker's share.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import zlib
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.records.rundir import iter_jsonl
from bench.records.schema import check_trial
from bench.strategies._base import Strategy, StrategyContext
from bench.strategies._procs import (
    READY,
    Worker,
    describe_exit,
    init_worker,
    mp_context,
    start_worker,
    wait_any,
    wake_in,
    worker_name,
)
from bench.strategies._study import make_sampler, open_storage
from bench.trial import heartbeat
from bench.trial.execute import (
    CANCELLED,
    CRASHED,
    TIMEOUT,
    Outcome,
    TrialRecord,
    call_objective,
    preload,
    worker_id,
)
from bench.workload.objective import ObjectiveRef
from probes.sink import JsonlSink

MAX_START_FAILURES = 3
# Replacement workers get fresh sampler seeds: seed + 1 + slot + SEED_STRIDE * restarts.
SEED_STRIDE = 1000


def shares(n_trials: int, workers: int) -> list[int]:
    """How many trials each worker runs: N split as evenly as possible, in a fixed order."""
    base, extra = divmod(n_trials, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


@dataclass(frozen=True)
class _Job:
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


# User attributes each trial of a shared study gets, so a study that several machines feed says
# who ran what (and a supervisor closes only its own trials).
ATTR_WORKER = "corebench_worker"
ATTR_OWNER = "corebench_owner"
ATTR_OVER_BUDGET = "corebench_over_budget"


class _OverBudget(Exception):
    """The storage gave this worker a trial number past the shared study's budget."""


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _work(conn: Connection, job: _Job, parent_pid: int) -> None:
    """Worker process: optimize the shared study for `job.share` trials, recording each one."""
    init_worker(job.threads, parent_pid)
    import optuna

    # Our records carry each failure; Optuna's own per-trial warning would only repeat it.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(
        study_name=job.study_name, storage=open_storage(job.storage),
        sampler=make_sampler(job.sampler, job.seed),
    )
    preload(job.objective)
    fn = job.objective.load()
    out = JsonlSink(Path(job.trials_path))
    conn.send(READY)
    budget = job.budget
    if budget is not None and len(study.get_trials(deepcopy=False)) >= budget:
        return  # the other processes spent the budget while this one started

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
            out.append(TrialRecord(
                number=trial.number, state=outcome.state, value=outcome.value,
                params=dict(trial.params), start=start, end=time.time(), pid=os.getpid(), worker=me,
                torch_threads=thread_policy.current_torch_threads(), run=job.label,
                strategy=job.strategy, error=outcome.error,
            ).to_dict())
            conn.send(("end", trial.number))

    # After each trial, stop once the study holds the budget (numbers still decide who runs).
    callbacks = [] if budget is None else [optuna.study.MaxTrialsCallback(budget, states=None)]
    # catch: a raising trial is FAIL in the study and `failed` in the records; the worker goes on.
    study.optimize(objective, n_trials=job.share, catch=(Exception,), callbacks=callbacks)


@dataclass
class _Slot:
    """One of the W workers' shares, and the process currently running it."""

    index: int
    left: int
    worker: Worker | None = None
    current: tuple[int, float] | None = None  # (trial number, start) of the running trial
    starts: int = 0
    ran_any: bool = False


class OptunaJournal(Strategy):
    name = "optuna-journal"
    kind = "processes"
    summary = "W processes, each study.optimize on one shared JournalStorage (or RDB) study"
    can_stop_trial = True  # the worker running it is killed and replaced
    needs_search_space = False  # define-by-run on real Trials
    uses_start_method = True

    def run(self, ctx: StrategyContext) -> None:
        import optuna

        storage, study_name = self._storage(ctx)
        self._study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
        self._mp = mp_context(ctx.start_method)
        self._shared = bool(ctx.config.storage and ctx.config.study_name)
        self._owner = owner_id()
        self._base = dict(
            storage=storage, study_name=study_name, sampler=ctx.config.sampler,
            objective=ctx.objective, threads=ctx.threads, label=ctx.label, strategy=ctx.strategy,
            heartbeat_path=ctx.heartbeat_path, trials_path=str(ctx.trials_out.path),
            budget=ctx.n_trials if self._shared else None, owner=self._owner,
        )
        # Shared: no fixed shares, every worker runs until the study holds N trials.
        split = [ctx.n_trials] * ctx.workers if self._shared else shares(ctx.n_trials, ctx.workers)
        slots = [_Slot(i, share) for i, share in enumerate(split) if share]
        try:
            for slot in slots:
                self._start(ctx, slot)
            self._supervise(ctx, slots)
        finally:
            # Workers with work left are stopping mid-trial (run timeout, interrupt, error).
            for slot in slots:
                if slot.worker is not None:
                    slot.worker.kill()
            for slot in slots:
                if slot.current is not None:
                    self._end_trial(ctx, slot, CANCELLED,
                                    "the run ended before this trial finished")
            self._fail_running()
            self._recount(ctx)

    def _storage(self, ctx: StrategyContext) -> tuple[str, str]:
        import optuna

        if ctx.config.storage:
            # bench.run.child already created the study in that database.
            return ctx.config.storage, ctx.study.study_name
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", ctx.label)
        path = str(ctx.results_dir / f"journal-{safe}.log")
        optuna.create_study(
            storage=open_storage(path), study_name=ctx.study.study_name,
            direction=ctx.study.direction, load_if_exists=True,
        )
        return path, ctx.study.study_name

    def _start(self, ctx: StrategyContext, slot: _Slot) -> None:
        seed = ctx.config.sampler_seed + 1 + slot.index + SEED_STRIDE * slot.starts
        if self._shared:
            # Processes on other machines start from the same --sampler-seed: without this they
            # would draw the same random start-up parameters, trial for trial.
            seed = (seed + zlib.crc32(self._owner.encode())) % 2**32
        job = _Job(seed=seed, share=slot.left, **self._base)  # type: ignore[arg-type]
        slot.starts += 1
        slot.ran_any = False
        slot.worker = start_worker(
            self._mp, _work, (job,), ctx.threads, f"corebench-journal-{slot.index}"
        )

    def _supervise(self, ctx: StrategyContext, slots: list[_Slot]) -> None:
        start_failures = 0
        while not ctx.should_stop():
            live = [s for s in slots if s.worker is not None]
            if not live:
                return
            limit = ctx.trial_timeout
            due = [s.current[1] + limit for s in live if s.current and limit]
            wait_any([s.worker for s in live if s.worker is not None],
                     wake_in(ctx.time_left(), *due))
            for slot in live:
                w = slot.worker
                assert w is not None
                self._drain(ctx, slot, w)
                if w.dead():
                    w.proc.join(1.0)
                    w.close()
                    if slot.current is not None:
                        self._end_trial(ctx, slot, CRASHED, describe_exit(w.pid, w.proc.exitcode))
                    elif self._shared and w.proc.exitcode == 0:
                        slot.left = 0  # it stopped because the study holds its budget
                    elif not slot.ran_any and w.proc.exitcode != 0:
                        start_failures += 1
                        if start_failures >= MAX_START_FAILURES:
                            raise BenchError(
                                f"optuna-journal workers die before they run a trial "
                                f"({describe_exit(w.pid, w.proc.exitcode)}); see the run's output "
                                "(bench.log in the results directory, or the terminal with -v)"
                            )
                    self._replace(ctx, slot)
                elif (limit is not None and slot.current is not None
                      and time.time() - slot.current[1] > limit):
                    w.kill()
                    self._end_trial(ctx, slot, TIMEOUT,
                                    f"worker killed after the per-trial timeout of {limit:g} s")
                    self._replace(ctx, slot)

    def _drain(self, ctx: StrategyContext, slot: _Slot, w: Worker) -> None:
        while True:
            got, msg = w.receive()
            if not got:
                return
            if msg == READY:
                w.ready = True
            elif isinstance(msg, tuple) and msg[0] == "start":
                slot.current = (int(msg[1]), float(msg[2]))
                slot.ran_any = True
                ctx.note(asked=1)
            elif isinstance(msg, tuple) and msg[0] == "end":
                slot.current = None
                slot.left -= 1
                ctx.note(told=1)

    def _replace(self, ctx: StrategyContext, slot: _Slot) -> None:
        slot.worker = None
        if slot.left > 0 and not ctx.should_stop():
            self._start(ctx, slot)

    def _end_trial(self, ctx: StrategyContext, slot: _Slot, state: str, error: str) -> None:
        """A trial whose worker is gone: FAIL in the study, recorded here with `state`."""
        import optuna

        assert slot.current is not None
        number, start = slot.current
        slot.current = None
        slot.left -= 1
        params: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            trials = self._study.get_trials(deepcopy=False)
            params = dict(next(t.params for t in trials if t.number == number))
        with contextlib.suppress(Exception):  # it may have just finished on its own
            self._study.tell(number, state=optuna.trial.TrialState.FAIL)
        pid = slot.worker.pid if slot.worker is not None else 0
        ctx.record_only(TrialRecord(
            number=number, state=state, value=None, params=params, start=start, end=time.time(),
            pid=pid or 0, worker=worker_name(pid), torch_threads=ctx.threads, error=error,
        ))

    def _fail_running(self) -> None:
        """Trials a killed worker had created but not yet reported stay RUNNING: close them
        (in a shared study only this process's: other processes' trials are still running)."""
        import optuna

        with contextlib.suppress(Exception):
            running = (optuna.trial.TrialState.RUNNING,)
            for t in self._study.get_trials(deepcopy=False, states=running):
                if self._shared and t.user_attrs.get(ATTR_OWNER) != self._owner:
                    continue
                with contextlib.suppress(Exception):
                    self._study.tell(t.number, state=optuna.trial.TrialState.FAIL)

    @staticmethod
    def _recount(ctx: StrategyContext) -> None:
        # The records on disk are the truth (an `end` message can die with its worker).
        on_disk = sum(1 for r in iter_jsonl(ctx.trials_out.path, check_trial) if r.get("run") == ctx.label)
        ctx.note(told=on_disk - ctx.told)
