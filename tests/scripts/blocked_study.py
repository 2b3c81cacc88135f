"""Target: an Optuna study with n_jobs=2 whose trials block forever (each waits on an event
nobody sets), the "stuck at 0/100" job: no CPU, nothing moves. Usage: blocked_study.py [max_s]."""

from __future__ import annotations

import sys
import threading

import optuna

NEVER = threading.Event()


def objective(trial: optuna.Trial) -> float:
    trial.suggest_float("x", -10.0, 10.0)
    NEVER.wait(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
    return 0.0


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    threading.Timer(0.5, lambda: print("ready", flush=True)).start()
    study.optimize(objective, n_trials=100, n_jobs=2)


if __name__ == "__main__":
    main()
