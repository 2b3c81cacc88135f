"""Target: an Optuna study with n_jobs=2 (trials run as threads of one process) and a pure-Python
objective, i.e. the GIL-bound shape the seed case had. Usage: optuna_threads_search.py [seconds]."""

from __future__ import annotations

import sys

import optuna


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    acc = 0.0
    for i in range(300_000):
        acc += (x * i) % 7.0
    return acc


def main() -> None:
    max_s = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    print("ready", flush=True)
    study.optimize(objective, n_trials=10_000, n_jobs=2, timeout=max_s)


if __name__ == "__main__":
    main()
