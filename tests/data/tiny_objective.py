"""A tiny user objective for `--objective tests.data.tiny_objective:objective` tests."""

from __future__ import annotations

from optuna.distributions import FloatDistribution


def objective(trial) -> float:  # noqa: ANN001 - an Optuna-style objective
    x = trial.suggest_float("x", -3.0, 3.0)
    return (x - 1.0) ** 2


objective.search_space = {"x": FloatDistribution(-3.0, 3.0)}  # type: ignore[attr-defined]

NOT_CALLABLE = 42


def define_by_run(trial) -> float:  # noqa: ANN001
    x = trial.suggest_float("x", -1.0, 1.0)
    return x * x
