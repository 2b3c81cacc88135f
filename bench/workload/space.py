"""The Optuna search space over the GA's hyperparameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.workload.ga import GAParams

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

TOURNAMENT_RANGE = (2, 8)  # bench.config.TOURNAMENT_MAX must equal the upper bound


def search_space() -> dict[str, BaseDistribution]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {
        "mutation_rate": FloatDistribution(0.005, 0.5, log=True),
        "mutation_sigma": FloatDistribution(0.01, 1.0, log=True),
        "crossover_rate": FloatDistribution(0.0, 1.0),
        "tournament_size": IntDistribution(*TOURNAMENT_RANGE),
        "elite_frac": FloatDistribution(0.0, 0.2),
    }


def suggest(trial: optuna.Trial | Any) -> GAParams:
    """Define-by-run suggestion of every GA hyperparameter (works on Trial and FixedTrial)."""
    return GAParams(
        mutation_rate=trial.suggest_float("mutation_rate", 0.005, 0.5, log=True),
        mutation_sigma=trial.suggest_float("mutation_sigma", 0.01, 1.0, log=True),
        crossover_rate=trial.suggest_float("crossover_rate", 0.0, 1.0),
        tournament_size=trial.suggest_int("tournament_size", *TOURNAMENT_RANGE),
        elite_frac=trial.suggest_float("elite_frac", 0.0, 0.2),
    )
