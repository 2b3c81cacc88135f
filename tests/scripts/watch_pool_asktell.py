"""Target for `bench watch`: the same torch objective in a multiprocessing pool of 2, with Optuna's
ask/tell in the parent (trials run in worker processes). Prints the study's trial count last.
Usage: watch_pool_asktell.py [n_trials] [steps]."""

from __future__ import annotations

import multiprocessing as mp
import sys

import optuna


def evaluate(args: tuple[float, int]) -> float:
    import torch

    torch.set_num_threads(1)  # one thread per worker: 2 workers fill 2 cores, no more
    lr, steps = args
    w, losses = 0.0, []
    for i in range(steps):  # the same objective as watch_threads_search.py
        w -= lr * (w - 1.0 + (i % 7) * 1e-3)
        losses.append(w)
    return float(torch.tensor(losses).mean())


def main() -> None:
    n_trials = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    workers = 2
    with mp.get_context("fork").Pool(workers) as pool:
        pending = []
        asked = 0
        while asked < n_trials or pending:
            while asked < n_trials and len(pending) < workers:
                trial = study.ask()
                lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
                pending.append((trial, pool.apply_async(evaluate, ((lr, steps),))))
                asked += 1
            trial, res = pending.pop(0)
            study.tell(trial, res.get())
    print(f"study trials: {len(study.trials)}", flush=True)


if __name__ == "__main__":
    main()
