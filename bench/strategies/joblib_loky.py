"""joblib-loky: `joblib.Parallel(n_jobs=W, backend="loky")`, trials asked in the parent.

Trials are asked lazily as workers free up (`pre_dispatch="n_jobs"`, `batch_size=1`) and told as
each finishes (`return_as="generator_unordered"`), not in lock-step batches. Loky starts workers
with its own thread limits (cpu_count // W); `execute` applies our policy in the worker, and each
record says what the trial actually ran with.

Loky cannot stop one task, and one dead worker breaks the whole executor (loky then SIGKILLs the
other workers and fails every task in flight). So:
- timeout: the worker stops its own trial with SIGALRM at the timeout (`timeout` record, the
  worker lives on); a trial stuck in native code past timeout + HARD_GRACE_S makes the worker
  leave a marker file and SIGKILL itself;
- crash: the executor breaks and every trial in flight is a suspect. A lone suspect is `crashed`;
  several are re-run one at a time, alone, so the one that kills its worker again is found and
  recorded `crashed`, and the innocent ones complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import BrokenExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from bench.records.kinds import Kind
from bench.strategies._alarm import execute_with_alarm
from bench.strategies._base import Strategy, StrategyContext
from bench.strategies._beats import HeartbeatTail
from bench.strategies._procs import worker_name
from bench.trial.execute import CRASHED, TIMEOUT, RunControl, TrialRecord, TrialSpec, lost, prepare
from bench.trial.lifeline import watch_parent

HARD_GRACE_S = 2.0
# How often the parent checks for a run timeout or interrupt while it waits for results.
STOP_CHECK_S = 0.1


def _marker(marker_dir: str, number: int) -> Path:
    return Path(marker_dir) / f"timeout-{number}"


def _hard_stop(marker_dir: str, number: int) -> None:
    # SIGALRM did not get the trial out (stuck in native code): leave word, then end the worker.
    with contextlib.suppress(OSError):
        _marker(marker_dir, number).write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)


def run_trial(
    spec: TrialSpec, trial_timeout: float | None, marker_dir: str, parent_pid: int,
) -> TrialRecord:
    """What a loky worker runs for one trial (in its main thread, so SIGALRM works). With W=1
    joblib runs it in the parent itself, whose signal handling stays as it is."""
    if os.getpid() != parent_pid and threading.current_thread() is threading.main_thread():
        # Ctrl-C reaches the whole process group; the parent decides what stops (loky's workers
        # would otherwise turn it into a KeyboardInterrupt result that aborts everything).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getpid() != parent_pid:
        # Loky starts its workers itself, from whichever thread, so the parent-death signal
        # (tied to that thread) cannot be used: a thread watches the parent instead.
        watch_parent(parent_pid)
    prepare(spec)  # imports first: neither stop may land inside them
    watchdog = None
    if trial_timeout is not None:
        watchdog = threading.Timer(
            trial_timeout + HARD_GRACE_S, _hard_stop, (marker_dir, spec.number)
        )
        watchdog.daemon = True
        watchdog.start()
    try:
        return execute_with_alarm(spec, trial_timeout)
    finally:
        if watchdog is not None:
            watchdog.cancel()


class _StopRun(RunControl):
    """Raised in the main thread to leave joblib's result loop; joblib then kills its workers."""


class JoblibLoky(Strategy):
    name = "joblib-loky"
    kind = Kind.PROCESSES
    summary = "joblib.Parallel(backend='loky'): W reusable worker processes, ask/tell in the parent"
    can_stop_trial = True  # SIGALRM in the worker, then the worker itself as a last resort
    uses_start_method = False  # loky always starts workers with fork+exec

    def run(self, ctx: StrategyContext) -> None:
        # In the results dir, not /tmp: a run killed with -9 leaves nothing outside `--out`.
        marker_dir = tempfile.mkdtemp(prefix=".loky-markers-", dir=ctx.results_dir)
        suspects: deque[TrialSpec] = deque()
        self._beats = HeartbeatTail(ctx.heartbeat_path, ctx.label)
        try:
            with ctx.serve_trials(), _stop_on_request(ctx):
                while not ctx.should_stop():
                    if suspects:
                        # Alone, so that if its worker dies again, it is the one.
                        alone = iter([suspects.popleft()])
                        self._batch(ctx, alone, marker_dir, suspects, alone=True)
                    elif self._batch(ctx, _asked(ctx), marker_dir, suspects, alone=False):
                        break
        finally:
            _shutdown_workers()
            shutil.rmtree(marker_dir, ignore_errors=True)
            ctx.cancel_pending("the run ended before this trial finished")

    def _batch(
        self, ctx: StrategyContext, specs: Iterator[TrialSpec], marker_dir: str,
        suspects: deque[TrialSpec], alone: bool,
    ) -> bool:
        """One joblib.Parallel call over `specs`; True when it ran to the end."""
        from joblib import Parallel, delayed

        in_flight: dict[int, TrialSpec] = {}

        def tasks() -> Iterable[Any]:
            # Consumed by joblib as workers free up (in its callback thread): asking is lazy.
            for spec in specs:
                in_flight[spec.number] = spec
                yield delayed(run_trial)(spec, ctx.trial_timeout, marker_dir, os.getpid())

        parallel = Parallel(
            n_jobs=ctx.workers, backend="loky", return_as="generator_unordered",
            pre_dispatch="n_jobs", batch_size=1,
        )
        try:
            with _armed():
                for record in parallel(tasks()):
                    with _disarmed():
                        in_flight.pop(record.number, None)
                        ctx.tell(record)
            return True
        except _StopRun:
            return False
        except BrokenExecutor as exc:
            broken = " ".join(str(exc).split())
            lone = alone or len(in_flight) == 1
            for spec in sorted(in_flight.values(), key=lambda s: s.number):
                marker = _marker(marker_dir, spec.number)
                if marker.exists():
                    pid = _int(marker.read_text())
                    ctx.tell(lost(
                        spec, TIMEOUT, f"worker killed itself {HARD_GRACE_S:g} s after the "
                        f"per-trial timeout of {ctx.trial_timeout:g} s (stuck in native code)",
                        time.time(), pid=pid, worker=worker_name(pid),
                    ))
                elif lone:
                    seen = self._beats.poll().get(spec.number)
                    pid = seen.pid if seen else 0
                    ctx.tell(lost(
                        spec, CRASHED, f"its loky worker died ({_exit_codes(broken)})",
                        seen.t if seen else time.time(), pid=pid, worker=worker_name(pid),
                    ))
                else:
                    suspects.append(spec)
            return False


def _asked(ctx: StrategyContext) -> Iterator[TrialSpec]:
    while (spec := ctx.ask()) is not None:
        yield spec


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _exit_codes(message: str) -> str:
    i = message.find("The exit codes of the workers are")
    return message[i:].split(" Detailed")[0].rstrip(". ") if i >= 0 else message[:200]


def _shutdown_workers() -> None:
    """Loky keeps its workers for reuse (idle timeout 300 s); this run is over, so end them."""
    from joblib.externals.loky import get_reusable_executor

    with contextlib.suppress(Exception):
        # reuse=True returns the executor joblib used, whatever its arguments were.
        get_reusable_executor(reuse=True).shutdown(wait=True, kill_workers=True)


# -- stopping the parent's wait on a run timeout or interrupt ------------------------------------
#
# joblib's result loop only ends when results arrive. To end the run on time, a periodic SIGALRM
# in the parent raises _StopRun into it while it waits (armed), never while we handle a result
# (disarmed). joblib catches it like a KeyboardInterrupt: it kills the workers and re-raises.
# With W=1 joblib runs the trials in this process (its sequential backend); the per-trial alarm
# then takes SIGALRM over and the run stops between trials instead.

_state = threading.local()


@contextlib.contextmanager
def _stop_on_request(ctx: StrategyContext) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # no signals here: only dispatch stops on request
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        if getattr(_state, "armed", False) and ctx.should_stop():
            _state.armed = False
            raise _StopRun()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, STOP_CHECK_S, STOP_CHECK_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _armed() -> Iterator[None]:
    _state.armed = True
    try:
        yield
    finally:
        _state.armed = False


@contextlib.contextmanager
def _disarmed() -> Iterator[None]:
    _state.armed = False
    try:
        yield
    finally:
        _state.armed = True
