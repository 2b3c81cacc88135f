"""How long a run will take, from one quick in-process calibration, before anything long starts.

The reference GA is timed on a shortened run (the configured population, a few generations, one
seed) and scaled by fitness evaluations, so calibrating the `seed` preset takes about a second, not
a full 500 x 150 x 3 trial. A user objective (`--objective`) is timed by one real trial: its cost is
unknown until it runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace

from bench.config import Config

# Generations timed for the GA (after one untimed warm-up generation that pays torch's first-call
# costs); more adds calibration time without changing the per-evaluation figure much.
CALIBRATION_GENERATIONS = 3
CALIBRATION_REPEATS = 3
REPEAT_BELOW_S = 0.5
# Per strategy run: a fresh interpreter, imports, worker start-up (measured 2-4 s here).
STARTUP_S = 3.0
# Strategies whose workers are threads of one process: a GIL-bound objective gets no speedup, so the
# estimate counts them as one worker (an upper end, which is what a "this will take" prompt wants).
ONE_PROCESS = frozenset({"sequential", "optuna-threads"})


def trial_seconds(cfg: Config, workers: int | None = None) -> float:
    """Seconds one trial of the configured objective takes on one worker, timed in this process
    with the torch threads a worker of a `workers`-wide run would get (thread policy of `cfg`)."""
    from bench.config import parse_threads, usable_cores
    from bench.trial import threads as thread_policy

    policy = parse_threads(cfg.threads)
    threads = thread_policy.resolve(policy, workers or cfg.workers or 1, usable_cores())
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        if cfg.objective is not None:
            return _time_user_trial(cfg)
        return _time_ga_trial(cfg)
    finally:
        torch.set_num_threads(before)


def _time_ga_trial(cfg: Config) -> float:
    from bench.workload.ga import GAParams, GASettings, run_ga

    gens = min(cfg.generations, CALIBRATION_GENERATIONS)
    settings = GASettings(
        population=cfg.population, generations=gens, hidden=cfg.hidden, mode=cfg.mode
    )
    run_ga(GAParams(), replace(settings, generations=1), seed=0)
    # Short calibrations are repeated (best of up to 3) so one scheduler hiccup does not decide.
    elapsed, spent = math.inf, 0.0
    for _ in range(CALIBRATION_REPEATS):
        t0 = time.perf_counter()
        run_ga(GAParams(), settings, seed=0)
        took = time.perf_counter() - t0
        elapsed, spent = min(elapsed, took), spent + took
        if spent >= REPEAT_BELOW_S:
            break
    # A run evaluates the initial population and each generation's children: (g + 1) populations.
    per_population = elapsed / (gens + 1)
    return per_population * (cfg.generations + 1) * cfg.seeds


def _time_user_trial(cfg: Config) -> float:
    import optuna

    from bench.workload.objective import load_user_objective

    objective = load_user_objective(str(cfg.objective))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.RandomSampler(seed=cfg.sampler_seed)
    study = optuna.create_study(
        direction="maximize" if cfg.direction == "maximize" else "minimize", sampler=sampler
    )
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=1, catch=(Exception,))
    return time.perf_counter() - t0


def run_seconds(cfg: Config, label: str, seconds_per_trial: float) -> float:
    """Estimated wall time of one strategy run: waves of trials over its effective parallelism."""
    from bench.config import usable_cores
    from bench.config.labels import base_name

    workers = cfg.workers or 1
    parallel = 1 if base_name(label) in ONE_PROCESS else max(1, min(workers, usable_cores()))
    estimate = STARTUP_S + math.ceil(cfg.trials / parallel) * seconds_per_trial
    if cfg.timeout is not None:
        estimate = min(estimate, cfg.timeout + STARTUP_S)
    return estimate


def estimate_duration(
    cfg: Config, *, baseline: bool = True, labels: Sequence[str] | None = None,
    seconds_per_trial: float | None = None,
) -> float:
    """Seconds the plan of `cfg` will take (compare's plan, the sequential baseline included when
    `baseline`), from one calibration; ideal scaling up to the usable cores for process strategies.
    """
    from bench.run.runner import plan

    per_trial = trial_seconds(cfg) if seconds_per_trial is None else seconds_per_trial
    todo = list(labels) if labels is not None else plan(cfg, baseline=baseline)
    return sum(run_seconds(cfg, label, per_trial) for label in todo)


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '3.4 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
