"""Tiny user objectives that misbehave on purpose, for the fault tests.

Use as `--objective tests.scripts.fault_objectives:NAME`. The fault hits trial number 1 only
(`trial.number` works on real Trials and on the FixedTrials workers run), every other trial
returns at once, so each test knows exactly which trial must end in which state.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from optuna.distributions import FloatDistribution

FAULTY_TRIAL = 1
SPACE = {"x": FloatDistribution(-3.0, 3.0)}
# A trial of `slow` lasts this long, so a whole-run --timeout lands in the middle of the run.
SLOW_S = 0.5


def _value(trial: Any) -> float:
    x = trial.suggest_float("x", -3.0, 3.0)
    return (x - 1.0) ** 2


def ok(trial: Any) -> float:
    return _value(trial)


def raises(trial: Any) -> float:
    value = _value(trial)
    if trial.number == FAULTY_TRIAL:
        raise ValueError("injected failure in trial 1")
    return value


def kills_worker(trial: Any) -> float:
    value = _value(trial)
    if trial.number == FAULTY_TRIAL:
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def hangs(trial: Any) -> float:
    value = _value(trial)
    if trial.number == FAULTY_TRIAL:
        while True:
            time.sleep(0.05)
    return value


def slow(trial: Any) -> float:
    value = _value(trial)
    time.sleep(SLOW_S)
    return value


for _fn in (ok, raises, kills_worker, hangs, slow):
    _fn.search_space = SPACE  # type: ignore[attr-defined]
