"""Target for `bench watch`: two processes sharing one Optuna study through a JournalStorage file,
each running study.optimize on it. The parent starts both and waits. Prints the study's trial
count last. Usage: watch_journal_pair.py JOURNAL_FILE [n_trials_each]."""

from __future__ import annotations

import subprocess
import sys

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    acc = 0.0
    for i in range(200_000):
        acc += (x * i) % 7.0
    return acc


def storage(path: str) -> JournalStorage:
    return JournalStorage(JournalFileBackend(path))


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = sys.argv[1]
    n = sys.argv[2] if len(sys.argv) > 2 else "4"
    if len(sys.argv) > 3 and sys.argv[3] == "worker":
        study = optuna.load_study(study_name="shared", storage=storage(path),
                                  sampler=optuna.samplers.RandomSampler())
        study.optimize(objective, n_trials=int(n))
        return
    optuna.create_study(study_name="shared", storage=storage(path))
    procs = [subprocess.Popen([sys.executable, __file__, path, n, "worker"]) for _ in range(2)]
    codes = [p.wait() for p in procs]
    study = optuna.load_study(study_name="shared", storage=storage(path))
    print(f"study trials: {len(study.trials)}", flush=True)
    sys.exit(max(codes))


if __name__ == "__main__":
    main()
