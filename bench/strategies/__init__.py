"""Registry of parallel strategies by name; modules are imported only when a strategy is used."""

from __future__ import annotations

import importlib

from bench.errors import ConfigError
from bench.strategies._base import Availability, RunSettings, Strategy, StrategyContext

_REGISTRY: dict[str, tuple[str, str]] = {
    "sequential": ("bench.strategies.sequential", "Sequential"),
    "optuna-threads": ("bench.strategies.optuna_threads", "OptunaThreads"),
    "joblib-loky": ("bench.strategies.joblib_loky", "JoblibLoky"),
    "pool": ("bench.strategies.pool", "Pool"),
    "ray": ("bench.strategies.ray_tasks", "RayTasks"),
    "islands": ("bench.strategies.islands", "Islands"),
    "optuna-journal": ("bench.strategies.optuna_journal", "OptunaJournal"),
}

__all__ = ["Availability", "RunSettings", "Strategy", "StrategyContext", "get", "names"]


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str) -> type[Strategy]:
    try:
        module_name, cls_name = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(_REGISTRY)}") from None
    cls: type[Strategy] = getattr(importlib.import_module(module_name), cls_name)
    return cls
