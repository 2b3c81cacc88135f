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


NOISE = "Token authentication is enabled for this Ray cluster (a third-party line)"


def noisy(trial) -> float:  # noqa: ANN001
    """Prints what libraries print from inside a worker (Ray's driver warnings, loky's, Optuna's
    logger): on stderr, by logging and by print."""
    import logging
    import sys

    x = trial.suggest_float("x", -3.0, 3.0)
    print(NOISE, file=sys.stderr, flush=True)
    logging.getLogger("ray").warning(NOISE)
    return (x - 1.0) ** 2


noisy.search_space = {"x": FloatDistribution(-3.0, 3.0)}  # type: ignore[attr-defined]
