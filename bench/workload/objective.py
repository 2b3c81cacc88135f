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


def _ensure_on_path(folder: str) -> None:
    # The console script does not put the working directory on sys.path, but users expect
    # `--objective mymodule:objective` to find mymodule.py where they run bench, and a file's
    # siblings. Appended, after site-packages: a file there named like a library
    # (threadpoolctl.py) must not replace it in this process or any worker.
    if folder not in sys.path:
        sys.path.append(folder)


def is_file_ref(spec: str) -> bool:
    """`path/to/file.py:function` (a file) rather than `pkg.module:function`."""
    module = spec.partition(":")[0]
    return module.endswith(".py") or os.sep in module or "/" in module


def absolute_ref(spec: str) -> str:
    """`file.py:fn` with the file's absolute path, so that every worker (spawn, forkserver, a
    Ray worker started in another directory) finds the same file; module refs as they are."""
    if not is_file_ref(spec):
        return spec
    path, sep, attr = spec.partition(":")
    return f"{os.path.abspath(path)}{sep}{attr}"


def _import_module(spec: str) -> Any:
    module_name = spec.partition(":")[0]
    if is_file_ref(spec):
        path = os.path.abspath(module_name)
        if not path.endswith(".py") or not os.path.isfile(path):
            raise ObjectiveError(f"--objective file {module_name!r} is not a .py file")
        folder, module_name = os.path.split(path[: -len(".py")])
        _ensure_on_path(folder)
        known = sys.modules.get(module_name)
        if known is not None and os.path.abspath(getattr(known, "__file__", "") or "") != path:
            raise ObjectiveError(
                f"--objective file {path}: a module named {module_name!r} is already imported "
                f"from elsewhere ({getattr(known, '__file__', 'built in')}); rename the file"
            )
    else:
        _ensure_on_path(os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ObjectiveError(f"cannot import objective module {module_name!r}: {exc}") from None
    except Exception as exc:  # user code failing at import time is still bad input
        raise ObjectiveError(
            f"importing objective module {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from None


def load_user_objective(spec: str) -> Objective:
    """Import `pkg.module:function` or `path/to/file.py:function`; any failure is one clear
    ObjectiveError line."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ObjectiveError(
            f"--objective must look like pkg.module:function or path/to/file.py:function, got {spec!r}"
        )
    module = _import_module(spec)
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

    Optional: with one, parameters are sampled in the parent ahead of the trial (the fast path);
    without, every strategy runs the objective define-by-run on the parent's trials.
    """
    fn = load_user_objective(spec)
    space = getattr(fn, "search_space", None)
    if space is None:
        space = getattr(_import_module(spec), "SEARCH_SPACE", None)
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
    user = absolute_ref(cfg.objective) if cfg.objective is not None else None
    return ObjectiveRef(settings=settings, seeds=cfg.seeds, user=user)
