"""Target for `bench watch`: a program that ends a given way after a few quick Optuna trials.
Usage: watch_endings.py exit N | signal NAME | ignore-sigint (ignores SIGINT, with a child that
does too, and sleeps until killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)
    how = sys.argv[1]
    print("trials done", flush=True)
    if how == "exit":
        sys.exit(int(sys.argv[2]))
    if how == "signal":
        os.kill(os.getpid(), getattr(signal, sys.argv[2]))
        time.sleep(10)
    if how == "ignore-sigint":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        code = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
        subprocess.Popen([sys.executable, "-c", code])
        print("ignoring SIGINT", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main()
