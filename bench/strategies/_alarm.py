"""Stop a trial at its timeout from inside the process that runs it (SIGALRM, main thread only)."""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any

from bench.trial.execute import (
    TIMEOUT,
    RunControl,
    TrialRecord,
    TrialSpec,
    execute,
    lost,
    prepare,
    worker_id,
)


class TrialTimeout(RunControl):
    # RunControl (a BaseException) so that an objective's `except Exception` cannot swallow the
    # timeout, and execute() never takes it for the objective's own sys.exit / KeyboardInterrupt.
    pass


def _raise_timeout(signum: int, frame: FrameType | None) -> None:
    raise TrialTimeout()


def can_alarm() -> bool:
    return threading.current_thread() is threading.main_thread()


def execute_with_alarm(spec: TrialSpec, timeout: float | None, trial: Any = None) -> TrialRecord:
    """`execute(spec)`, stopped between two Python bytecodes once `timeout` seconds have passed.

    A trial stuck inside one native call is not interrupted; callers that must never hang add a
    harder stop around this (a killed worker process).
    """
    if timeout is None or not can_alarm():
        return execute(spec, trial)
    prepare(spec)
    start = time.time()
    old = signal.signal(signal.SIGALRM, _raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return execute(spec, trial)
    except TrialTimeout:
        return lost(
            spec, TIMEOUT, f"stopped after the per-trial timeout of {timeout:g} s", start,
            pid=os.getpid(), worker=worker_id(),
        )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
