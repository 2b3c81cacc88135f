"""Target for `bench watch`: the seed's "stuck at 0/100": an Optuna study.optimize(n_jobs=2) whose
trials block forever (0% CPU), so no trial ever finishes."""

from __future__ import annotations

import threading

import optuna


def objective(trial: optuna.Trial) -> float:
    trial.suggest_float("x", 0, 1)
    threading.Event().wait()  # a lock or a queue that nobody will ever release
    return 0.0


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    print("optimizing", flush=True)
    study.optimize(objective, n_trials=100, n_jobs=2)


if __name__ == "__main__":
    main()
