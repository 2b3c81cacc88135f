"""Target for `bench watch`: an Optuna study.optimize(n_jobs=2) over a small torch objective that
loops in Python (the seed's shape: GIL-bound threads of one process). Prints the study's trial
count last. Usage: watch_threads_search.py [n_trials] [steps]."""

from __future__ import annotations

import sys

import optuna
import torch


def objective(trial: optuna.Trial, steps: int) -> float:
    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    # Research-code shape: the update loop in Python floats, torch only to reduce the result,
    # so nearly all of a trial's time holds the GIL.
    w, losses = 0.0, []
    for i in range(steps):
        w -= lr * (w - 1.0 + (i % 7) * 1e-3)
        losses.append(w)
    return float(torch.tensor(losses).mean())


def main() -> None:
    n_trials = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: objective(t, steps), n_trials=n_trials, n_jobs=2)
    print(f"study trials: {len(study.trials)}", flush=True)


if __name__ == "__main__":
    main()
