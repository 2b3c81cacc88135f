"""Target for the trial tracer: trials that complete, fail, get pruned, return NaN or nothing,
through study.optimize and through ask/tell; prints each trial's number, state and value as JSON,
so a run with the tracer can be compared with a run without it."""

from __future__ import annotations

import json
import math

import optuna


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_int("x", 0, 100)
    kind = trial.number % 5
    if kind == 1:
        raise ValueError("bad trial")
    if kind == 2:
        raise optuna.TrialPruned()
    if kind == 3:
        return math.nan
    return float(x)


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.CRITICAL)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=10, catch=(ValueError,))
    t = study.ask()
    study.tell(t, 1.5)
    t = study.ask()
    study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    t = study.ask()
    t.suggest_float("y", 0, 1)
    study.tell(t, state=optuna.trial.TrialState.PRUNED)
    try:
        study.optimize(lambda tr: 1 / 0, n_trials=1)
    except ZeroDivisionError:
        print("ZeroDivisionError propagated")
    rows = [[tr.number, tr.state.name, tr.value, tr.params] for tr in study.trials]
    print(json.dumps(rows, sort_keys=True))


if __name__ == "__main__":
    main()
