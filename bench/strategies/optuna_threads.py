"""optuna-threads: `study.optimize(objective, n_trials=N, n_jobs=W)`, as the original script did.

Optuna runs n_jobs trials as threads of this one process (a ThreadPoolExecutor, no joblib), so a
Python-heavy objective shares one GIL. That is the behaviour under test: it is not fixed here.
Two additions only: `catch=(Exception,)`, so one raising trial is a failed trial and not the end of
the search (failure isolation, as every strategy has), and a wrapper around the objective that
records each trial (pid, thread, torch threads, start/end) and sends its heartbeats.

Python cannot stop a thread. So a trial past --trial-timeout runs to its end and is then recorded
`timeout` (the study keeps the value Optuna was given). At the run's deadline or on an interrupt,
trials still running are recorded (`timeout` when already past their own limit, else
`cancelled`), FAIL in the study, the run's record is written, and the process ends at once with
os._exit: waiting for the threads could take forever, and the executor inside optimize would
join them at interpreter exit anyway.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from bench.records.kinds import Kind
from bench.strategies import _storage_time
from bench.strategies._base import Strategy, StrategyContext
from bench.trial import heartbeat
from bench.trial import threads as thread_policy
from bench.trial.execute import (
    CANCELLED,
    COMPLETE,
    TIMEOUT,
    Outcome,
    TrialRecord,
    call_objective,
    worker_id,
)

# When a stop is requested and no trial is running, optimize ends by itself within this long.
SETTLE_S = 2.0


class OptunaThreads(Strategy):
    name = "optuna-threads"
    kind = Kind.THREADS
    summary = "study.optimize(n_jobs=W): W threads of one process (the original script)"
    can_stop_trial = False  # threads cannot be killed; late trials are recorded `timeout`
    storage_in_workers = True  # each worker runs study.optimize on the storage
    real_trials = True  # define-by-run on the real optuna Trial
    uses_start_method = False

    def run(self, ctx: StrategyContext) -> None:
        import optuna

        thread_policy.apply(ctx.threads)
        fn = ctx.objective.load()
        lock = threading.Lock()
        running: dict[int, tuple[float, Any]] = {}  # number -> (start, Trial)
        done = threading.Event()
        # A finished trial's record waits here for its tell (`record` below, in the same thread),
        # so that its storage time counts every call made for it; the deadline path flushes it.
        told: dict[int, TrialRecord] = {}
        marks = threading.local()  # this thread's storage seconds when it last recorded a trial

        def objective(trial: optuna.Trial) -> float:
            start = time.time()
            number = trial.number
            with lock:
                running[number] = (start, trial)
            ctx.note(asked=1)
            me = worker_id()
            outcome = Outcome()
            try:
                with heartbeat.trial(ctx.heartbeat_path, ctx.label, number, me):
                    return call_objective(fn, trial, outcome)
            finally:
                end = time.time()
                with lock:
                    mine = running.pop(number, None) is not None
                limit = ctx.trial_timeout
                if outcome.state == COMPLETE and limit is not None and end - start > limit:
                    outcome.state, outcome.error = TIMEOUT, (
                        f"ran {end - start:.1f} s, past the per-trial timeout of {limit:g} s: a "
                        "thread cannot be stopped, so it ran to its end (the study kept its value)"
                    )
                if mine:  # else the stop path recorded it already
                    rec = TrialRecord(
                        number=number, state=outcome.state, value=outcome.value,
                        params=dict(trial.params), start=start, end=end, pid=os.getpid(), worker=me,
                        torch_threads=thread_policy.current_torch_threads(), error=outcome.error,
                    )
                    with lock:
                        told[number] = rec

        def record(study: optuna.Study, frozen: Any) -> None:
            now = _storage_time.seconds()
            with lock:
                rec = told.pop(frozen.number, None)
            if rec is not None:
                # A trial thread (new, or reused by Optuna's executor) makes storage calls for
                # its trials only, so everything since its last record belongs to this trial.
                ctx.record_only(rec.with_(storage_s=now - getattr(marks, "t", 0.0)))
            marks.t = now

        def stop_asking(study: optuna.Study, frozen: Any) -> None:
            # Runs in the trial's thread after each trial, where Study.stop is allowed.
            if ctx.should_stop():
                study.stop()

        watcher = threading.Thread(
            target=self._watch, args=(ctx, lock, running, done, told), name="corebench-deadline",
            daemon=True,
        )
        watcher.start()
        marks.t = _storage_time.seconds()  # n_jobs=1 runs the trials in this thread
        try:
            ctx.study.optimize(
                objective, n_trials=ctx.n_trials, n_jobs=ctx.workers, catch=(Exception,),
                callbacks=[record, stop_asking],
            )
        finally:
            done.set()

    def _watch(
        self, ctx: StrategyContext, lock: threading.Lock, running: dict[int, tuple[float, Any]],
        done: threading.Event, told: dict[int, TrialRecord],
    ) -> None:
        """At the deadline or a stop request, end the run even if trial threads never return."""
        while not done.is_set():
            left = ctx.time_left()
            step = 0.2 if left is None else max(0.0, min(0.2, left))
            if ctx.stop.wait(step) or ctx.should_stop():
                break
        if done.wait(0 if running else SETTLE_S):
            return
        with lock:
            abandoned = list(running.items())
            running.clear()
        if not abandoned and done.wait(SETTLE_S):
            return
        with lock:  # finished, but the run ends before their tell returned: recorded as they are
            unrecorded = list(told.values())
            told.clear()
        for rec in unrecorded:
            ctx.record_only(rec)
        self._abandon(ctx, abandoned)

    @staticmethod
    def _abandon(ctx: StrategyContext, abandoned: list[tuple[int, tuple[float, Any]]]) -> None:
        import optuna

        now = time.time()
        interrupted = ctx.stop.is_set()
        reason = "interrupted" if interrupted else "the whole-run --timeout ended the run"
        for number, (start, trial) in abandoned:
            limit = ctx.trial_timeout
            late = limit is not None and now - start > limit
            state = TIMEOUT if late else CANCELLED
            error = (f"still running {now - start:.1f} s after it started, past the per-trial "
                     f"timeout of {limit:g} s, when the run ended" if late
                     else f"still running when the run ended ({reason})")
            ctx.record_only(TrialRecord(
                number=number, state=state, value=None, params=dict(trial.params), start=start,
                end=now, pid=os.getpid(), worker="", torch_threads=ctx.threads, error=error,
            ))
            try:
                ctx.study.tell(number, state=optuna.trial.TrialState.FAIL)
            except Exception:
                pass  # it finished in the meantime
        if ctx.exit_now is not None:
            # An interrupt's reason (which signal) is bench.run.child's to say.
            ctx.exit_now("interrupted", "") if interrupted else ctx.exit_now("timeout", reason)
