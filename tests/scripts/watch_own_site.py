"""Target for `bench watch`: run with tests/scripts/own_site on PYTHONPATH; reports whether that
sitecustomize ran, then runs a few Optuna trials."""

from __future__ import annotations

import os

import optuna


def main() -> None:
    print(f"own sitecustomize: {os.environ.get('OWN_SITECUSTOMIZE_RAN', 'no')}", flush=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=4)
    print(f"study trials: {len(study.trials)}", flush=True)


if __name__ == "__main__":
    main()
