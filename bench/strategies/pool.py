"""pool: W worker processes, trials asked and told in the parent, one trial per worker at a time.

Not `multiprocessing.Pool`: it waits forever for the result of a worker that was SIGKILLed and
cannot stop one task. Here each worker has its own pipe and the parent knows which trial each one
runs, so a trial past its timeout kills exactly that worker, a dead worker's trial is recorded
`crashed` with the signal that ended it, a replacement starts, and the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from bench.errors import BenchError
from bench.records.kinds import Kind
from bench.strategies._base import Strategy, StrategyContext
from bench.strategies._procs import (
    READY,
    Worker,
    describe_exit,
    init_worker,
    mp_context,
    start_worker,
    stop_workers,
    wait_any,
    wake_in,
    worker_name,
)
from bench.trial.execute import CRASHED, TIMEOUT, TrialRecord, TrialSpec, execute, lost, preload
from bench.workload.objective import ObjectiveRef

# Workers that die before they are ready (broken interpreter, unimportable objective) would be
# replaced forever; after this many the run fails with the reason.
MAX_START_FAILURES = 3


def _serve(conn: Connection, threads: int | None, objective: ObjectiveRef, parent_pid: int) -> None:
    """Worker loop: run each TrialSpec sent, send its record back; None or EOF ends it."""
    init_worker(threads, parent_pid)
    preload(objective)
    conn.send(READY)
    while True:
        try:
            spec = conn.recv()
        except (EOFError, OSError):
            return
        if spec is None:
            return
        conn.send(execute(spec))


class Pool(Strategy):
    name = "pool"
    kind = Kind.PROCESSES
    summary = "W supervised worker processes (multiprocessing), ask/tell in the parent"
    can_stop_trial = True  # the worker running it is killed and replaced
    uses_start_method = True

    def run(self, ctx: StrategyContext) -> None:
        mp = mp_context(ctx.start_method)
        if ctx.start_method == "fork":
            # Import once here so that forked workers start with it loaded, as fork promises.
            preload(ctx.objective)
        started = [0]

        def start() -> Worker:
            started[0] += 1
            return start_worker(mp, _serve, (ctx.threads, ctx.objective), ctx.threads,
                                f"corebench-pool-{started[0]}")

        with ctx.serve_trials():
            workers = [start() for _ in range(max(1, min(ctx.workers, ctx.n_trials)))]
            try:
                _supervise(ctx, workers, start)
            finally:
                stop_workers(workers)
                ctx.cancel_pending("the run ended before this trial finished")


def _supervise(ctx: StrategyContext, workers: list[Worker], start: Callable[[], Worker]) -> None:
    exhausted = False
    start_failures = 0
    # The first trials wait until every first worker is ready, so a fast starter does not take
    # all the work while the others import (start-up stays apart from the working phase).
    warm = False
    while not ctx.should_stop():
        warm = warm or all(w.ready for w in workers)
        if warm and not exhausted:
            for w in workers:
                if w.gone or not w.ready or w.busy:
                    continue
                spec = ctx.ask()
                if spec is None:
                    exhausted = True
                    break
                w.give(spec, spec)
        busy = [w for w in workers if w.busy]
        if exhausted and not busy:
            return
        watched = [w for w in workers if not w.gone and (w.busy or not w.ready)]
        limit = ctx.trial_timeout
        wait_any(watched, wake_in(ctx.time_left(), *(w.since + limit for w in busy if limit)))
        for i, w in enumerate(workers):
            if w.gone or not _check(ctx, w):
                continue
            if not w.ready:
                start_failures += 1
                if start_failures >= MAX_START_FAILURES:
                    raise BenchError(
                        f"pool workers die before they can run a trial "
                        f"({describe_exit(w.pid, w.proc.exitcode)}); see the run's output "
                        "(bench.log in the results directory, or the terminal with -v)"
                    )
            # Replace the worker only while trials remain to be run.
            workers[i] = start() if ctx.asked < ctx.n_trials and not ctx.should_stop() else _Gone(w)


def _check(ctx: StrategyContext, w: Worker) -> bool:
    """Handle what `w` sent or why it stopped; True when the worker is gone (dead or killed)."""
    got, message = w.receive()
    if got and message == READY:
        w.ready = True
        return False
    spec: TrialSpec | None = w.job
    if got and isinstance(message, TrialRecord):
        w.job = None
        ctx.tell(message)
        return False
    if w.dead() or got:
        w.proc.join(1.0)
        w.close()
        if spec is not None:
            ctx.tell(lost(spec, CRASHED, describe_exit(w.pid, w.proc.exitcode), w.since,
                          pid=w.pid or 0, worker=worker_name(w.pid)))
        w.job = None
        return True
    limit = ctx.trial_timeout
    if spec is not None and limit is not None and time.time() - w.since > limit:
        w.kill()
        ctx.tell(lost(spec, TIMEOUT, f"worker killed after the per-trial timeout of {limit:g} s",
                      w.since, pid=w.pid or 0, worker=worker_name(w.pid)))
        w.job = None
        w.ready = True  # a killed worker had started; not a start failure
        return True
    return False


class _Gone(Worker):
    """The slot of a worker that ended when no replacement is needed."""

    def __init__(self, old: Worker) -> None:
        super().__init__(old.proc, old.conn)
        self.ready = True
        self.gone = True
