"""What a trial runs: the reference GA, or the user's own Optuna-style `objective(trial) -> float`.

`--objective pkg.module:function` imports and runs user code, in this process and in every worker.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.errors import ObjectiveError
from bench.trial import heartbeat
from bench.workload.ga import GASettings, run_ga
from bench.workload.space import search_space as ga_search_space
from bench.workload.space import suggest

Objective = Callable[[Any], float]


class GAObjective:
    """The reference objective: mean best fitness of one GA run per seed (picklable)."""

    def __init__(self, settings: GASettings, seeds: int) -> None:
        self.settings = settings
        self.seeds = seeds

    def __call__(self, trial: Any) -> float:
        params = suggest(trial)
        g_total = self.settings.generations
        total = self.seeds * g_total
        best = []
        for s in range(self.seeds):
            def on_gen(g: int, _total: int, s: int = s) -> None:
                heartbeat.beat(s * g_total + g, total)

            best.append(run_ga(params, self.settings, seed=s, on_generation=on_gen))
        return sum(best) / len(best)


def _ensure_cwd_on_path() -> None:
    # The console script does not put the working directory on sys.path, but users expect
    # `--objective mymodule:objective` to find mymodule.py where they run bench.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def load_user_objective(spec: str) -> Objective:
    """Import `pkg.module:function`; any failure is one clear ObjectiveError line."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ObjectiveError(f"--objective must look like pkg.module:function, got {spec!r}")
    _ensure_cwd_on_path()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ObjectiveError(f"cannot import objective module {module_name!r}: {exc}") from None
    except Exception as exc:  # user code failing at import time is still bad input
        raise ObjectiveError(
            f"importing objective module {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from None
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise ObjectiveError(f"module {module_name!r} has no attribute {attr!r}")
    if not callable(fn):
        raise ObjectiveError(f"objective {spec!r} is not callable")
    objective: Callable[[Any], float] = fn
    return objective


def user_search_space(spec: str) -> dict[str, Any] | None:
    """A user objective's declared search space (`fn.search_space` or module `SEARCH_SPACE`).

    Process strategies sample parameters in the parent, so they need it; define-by-run objectives
    without one run under sequential, optuna-threads and optuna-journal.
    """
    fn = load_user_objective(spec)
    space = getattr(fn, "search_space", None)
    if space is None:
        module = importlib.import_module(spec.partition(":")[0])
        space = getattr(module, "SEARCH_SPACE", None)
    if callable(space):
        space = space()
    return dict(space) if space is not None else None


@dataclass(frozen=True)
class ObjectiveRef:
    """A picklable reference to the objective, rebuilt in each worker."""

    settings: GASettings
    seeds: int
    user: str | None = None

    @property
    def evaluations_per_trial(self) -> int | None:
        """GA fitness evaluations in one trial (None for user objectives)."""
        if self.user is not None:
            return None
        s = self.settings
        return s.population * (s.generations + 1) * self.seeds

    def load(self) -> Objective:
        if self.user is not None:
            return load_user_objective(self.user)
        return GAObjective(self.settings, self.seeds)

    def search_space(self) -> dict[str, Any] | None:
        if self.user is not None:
            return user_search_space(self.user)
        return ga_search_space()


def objective_from_config(cfg: Any) -> ObjectiveRef:
    settings = GASettings(
        population=cfg.population, generations=cfg.generations, hidden=cfg.hidden, mode=cfg.mode
    )
    return ObjectiveRef(settings=settings, seeds=cfg.seeds, user=cfg.objective)
