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
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError
from bench.records.kinds import Kind
from bench.records.rundir import iter_jsonl
from bench.records.schema import check_trial
from bench.strategies._base import Strategy, StrategyContext
from bench.strategies._journal_worker import ATTR_OVER_BUDGET as ATTR_OVER_BUDGET
from bench.strategies._journal_worker import ATTR_OWNER as ATTR_OWNER
from bench.strategies._journal_worker import ATTR_WORKER as ATTR_WORKER
from bench.strategies._journal_worker import WorkerJob, owner_id, run_worker
from bench.strategies._procs import (
    READY,
    Worker,
    describe_exit,
    mp_context,
    start_worker,
    wait_any,
    wake_in,
    worker_name,
)
from bench.strategies._study import open_storage
from bench.trial.execute import (
    CANCELLED,
    CRASHED,
    TIMEOUT,
    TrialRecord,
)

MAX_START_FAILURES = 3
# Replacement workers get fresh sampler seeds: seed + 1 + slot + SEED_STRIDE * restarts.
SEED_STRIDE = 1000


def shares(n_trials: int, workers: int) -> list[int]:
    """How many trials each worker runs: N split as evenly as possible, in a fixed order."""
    base, extra = divmod(n_trials, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


@dataclass
class _Slot:
    """One of the W workers' shares, and the process currently running it."""

    index: int
    left: int
    worker: Worker | None = None
    current: tuple[int, float] | None = None  # (trial number, start) of the running trial
    starts: int = 0
    ran_any: bool = False
    error: str = ""  # the last worker's own one-line account of why it stopped


class OptunaJournal(Strategy):
    name = "optuna-journal"
    kind = Kind.PROCESSES
    summary = "W processes, each study.optimize on one shared JournalStorage (or RDB) study"
    can_stop_trial = True  # the worker running it is killed and replaced
    storage_in_workers = True  # each worker runs study.optimize on the storage
    real_trials = True  # define-by-run on real Trials, each worker its own study object
    uses_start_method = True

    def run(self, ctx: StrategyContext) -> None:
        import optuna

        storage, study_name = self._storage(ctx)
        self._study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
        self._mp = mp_context(ctx.start_method)
        self._shared = bool(ctx.settings.storage and ctx.settings.study_name)
        self._owner = owner_id()
        self._base = dict(
            storage=storage, study_name=study_name, sampler=ctx.settings.sampler,
            objective=ctx.objective, threads=ctx.threads, label=ctx.label, strategy=ctx.strategy,
            heartbeat_path=ctx.heartbeat_path, trials_path=str(ctx.trials_out.path),
            budget=ctx.n_trials if self._shared else None, owner=self._owner,
            pruner=ctx.settings.pruner,
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

        if ctx.settings.storage:
            # bench.run.child already created the study in that database.
            return ctx.settings.storage, ctx.study.study_name
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", ctx.label)
        path = str(ctx.results_dir / f"journal-{safe}.log")
        optuna.create_study(
            storage=open_storage(path), study_name=ctx.study.study_name,
            direction=ctx.study.direction, load_if_exists=True,
        )
        return path, ctx.study.study_name

    def _start(self, ctx: StrategyContext, slot: _Slot) -> None:
        seed = ctx.settings.sampler_seed + 1 + slot.index + SEED_STRIDE * slot.starts
        if self._shared:
            # Processes on other machines start from the same --sampler-seed: without this they
            # would draw the same random start-up parameters, trial for trial.
            seed = (seed + zlib.crc32(self._owner.encode())) % 2**32
        job = WorkerJob(seed=seed, share=slot.left, **self._base)  # type: ignore[arg-type]
        slot.starts += 1
        slot.ran_any = False
        slot.worker = start_worker(
            self._mp, run_worker, (job,), ctx.threads, f"corebench-journal-{slot.index}"
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
                    self._drain(ctx, slot, w)  # its last words, sent just before it exited
                    w.close()
                    why = describe_exit(w.pid, w.proc.exitcode)
                    if slot.error:
                        why, slot.error = f"{why}: {slot.error}", ""
                    if slot.current is not None:
                        self._end_trial(ctx, slot, CRASHED, why)
                    elif self._shared and w.proc.exitcode == 0:
                        slot.left = 0  # it stopped because the study holds its budget
                    elif not slot.ran_any and w.proc.exitcode != 0:
                        start_failures += 1
                        if start_failures >= MAX_START_FAILURES:
                            raise BenchError(
                                f"optuna-journal workers die before they run a trial, "
                                f"{MAX_START_FAILURES} in a row ({why}); more in bench.log in the results directory"
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
            elif isinstance(msg, tuple) and msg[0] == "error":
                slot.error = str(msg[1])

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
