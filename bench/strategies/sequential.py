"""sequential: one trial after another in the runner process, the baseline every speedup is against."""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType

from bench.strategies._base import Strategy, StrategyContext
from bench.trial import TIMEOUT, execute, lost, worker_id


class _TrialTimeout(BaseException):
    # BaseException so that an objective's `except Exception` cannot swallow the timeout.
    pass


def _raise_timeout(signum: int, frame: FrameType | None) -> None:
    raise _TrialTimeout()


class Sequential(Strategy):
    name = "sequential"
    kind = "inline"
    summary = "trials one after another in one process (the baseline)"
    can_stop_trial = True  # via SIGALRM between Python bytecodes, in the main thread

    def run(self, ctx: StrategyContext) -> None:
        use_alarm = ctx.trial_timeout is not None and threading.current_thread() is threading.main_thread()
        while (spec := ctx.ask()) is not None:
            start = time.time()
            if use_alarm:
                assert ctx.trial_timeout is not None
                old = signal.signal(signal.SIGALRM, _raise_timeout)
                signal.setitimer(signal.ITIMER_REAL, ctx.trial_timeout)
            try:
                record = execute(spec)
            except _TrialTimeout:
                record = lost(
                    spec, TIMEOUT, f"stopped after the per-trial timeout of {ctx.trial_timeout:g} s",
                    start, pid=os.getpid(), worker=worker_id(),
                )
            finally:
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    signal.signal(signal.SIGALRM, old)
            ctx.tell(record)
