"""A user objective for tests/integration/test_shared_storage.py: every process that shares the
study runs at least one trial, whatever the start-up order.

The first trial of each supervising process (a `bench run`'s strategy process, the worker's
parent) waits until $COREBENCH_BARRIER_PARTIES processes have arrived in $COREBENCH_BARRIER_DIR
(only trials of study $COREBENCH_BARRIER_STUDY, when that is set).
Without it, on a loaded machine one process could finish the whole budget before the other's
worker has started, and "trials came from both processes" would depend on timing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

BARRIER_TIMEOUT_S = 120.0


def _arrive(study_name: str) -> None:
    where = os.environ.get("COREBENCH_BARRIER_DIR")
    if not where:
        return
    only = os.environ.get("COREBENCH_BARRIER_STUDY")
    if only and study_name != only:
        return  # a run with a study of its own (bench compare's sequential baseline)
    parties = int(os.environ.get("COREBENCH_BARRIER_PARTIES", "2"))
    root = Path(where)
    me = root / str(os.getppid())
    if me.exists():
        return  # this process already met the others
    me.touch()
    deadline = time.time() + BARRIER_TIMEOUT_S
    while len(list(root.iterdir())) < parties:
        if time.time() > deadline:
            raise RuntimeError(f"only {len(list(root.iterdir()))} of {parties} processes arrived")
        time.sleep(0.05)


def objective(trial) -> float:  # noqa: ANN001 - an Optuna-style objective
    x = trial.suggest_float("x", -3.0, 3.0)
    _arrive(trial.study.study_name)
    return (x - 1.0) ** 2
