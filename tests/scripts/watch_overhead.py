"""Target for the tracer-overhead benchmark: N no-op trials through study.optimize and N through
ask/tell; prints the seconds per trial of each loop (timed inside, so interpreter start-up and
imports are not counted). Usage: watch_overhead.py N."""

from __future__ import annotations

import sys
import time

import optuna


def main() -> None:
    n = int(sys.argv[1])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    started = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n)
    optimize_s = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0, 1))
    ask_tell_s = (time.perf_counter() - started) / n
    print(f"{optimize_s} {ask_tell_s}")


if __name__ == "__main__":
    main()
