"""Dispatch overhead per trial of each parallel strategy, warm, with a no-op objective.

What a strategy costs per trial beyond the objective itself: asking, sending the trial to a worker,
the worker running it, the record coming back, telling the study, appending the record. Start-up
(spawning workers, connecting to Ray) is taken out by measuring the marginal cost: the time of a
run of N_BIG trials minus that of N_SMALL trials, over the difference.

Targets (ms/trial): pool <= 1, joblib-loky <= 2, ray <= 3, optuna-journal <= 20. Enforced with
`pytest tests/benchmarks/test_bench_dispatch.py --benchmark-enable`; without it each strategy
runs once, as a correctness check.

The strategies run in this process (no child process, no probes), with an in-memory study.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.config import Config
from bench.records.rundir import read_jsonl
from bench.records.schema import check_trial
from bench.strategies import StrategyContext, get
from bench.trial.execute import COMPLETE
from bench.workload.objective import objective_from_config
from probes.sink import JsonlSink

NOOP = "tests.scripts.fault_objectives:ok"
WORKERS = 2
TARGET_MS = {"pool": 1.0, "joblib-loky": 2.0, "ray": 3.0, "optuna-journal": 20.0}
N_TRIALS = {
    "pool": (50, 500), "joblib-loky": (50, 500), "ray": (50, 600), "optuna-journal": (20, 200),
}
ROUNDS = 5


def make_context(name: str, n_trials: int, out: Path, **config: Any) -> StrategyContext:
    import optuna

    out.mkdir(parents=True, exist_ok=True)
    cfg = Config(trials=n_trials, workers=WORKERS, sampler="random", objective=NOOP, out=str(out),
                 start_method="fork", **config)
    objective = objective_from_config(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return StrategyContext(
        label=name, config=cfg, objective=objective, study=study, workers=WORKERS,
        threads_policy="unlimited", threads=None, start_method="fork", trial_timeout=None,
        deadline=None, heartbeat_path=str(out / "heartbeats.jsonl"),
        trials_out=JsonlSink(out / "trials.jsonl"), strategy=name,
        search_space=objective.search_space(),
    )


@pytest.fixture(scope="module")
def ray_session(request: pytest.FixtureRequest) -> Iterator[None]:
    """One driver connection for all rounds, so its workers stay warm (the strategy leaves a
    connection it did not make alone)."""
    import ray

    address = request.getfixturevalue("ray_address")

    ray.init(address=address, log_to_driver=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def _run(name: str, n_trials: int, out: Path, **config: Any) -> float:
    ctx = make_context(name, n_trials, out, **config)
    started = time.perf_counter()
    get(name)().run(ctx)
    elapsed = time.perf_counter() - started
    rows = [r for r in read_jsonl(out / "trials.jsonl", check_trial) if r["run"] == name]
    assert len(rows) == n_trials and all(r["state"] == COMPLETE for r in rows)
    return elapsed


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[pytest.mark.ray] if n == "ray" else [], id=n) for n in TARGET_MS],
)
def test_dispatch_overhead_per_trial(
    name: str, benchmark: Any, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    if name == "ray":
        request.getfixturevalue("ray_session")
    small, big = N_TRIALS[name]
    rounds = iter(range(10_000))
    big_times: list[float] = []

    def one_big_run() -> None:
        big_times.append(_run(name, big, tmp_path / f"big-{next(rounds)}"))

    benchmark.group = "dispatch"
    benchmark.extra_info["trials"] = big
    benchmark.pedantic(one_big_run, rounds=ROUNDS, iterations=1)
    if benchmark.disabled:
        return
    small_time = min(_run(name, small, tmp_path / f"small-{i}") for i in range(ROUNDS))
    ms_per_trial = (min(big_times) - small_time) / (big - small) * 1000
    benchmark.extra_info["ms_per_trial"] = round(ms_per_trial, 3)
    benchmark.extra_info["target_ms"] = TARGET_MS[name]
    print(f"\n{name}: {ms_per_trial:.3f} ms/trial (target <= {TARGET_MS[name]} ms)")
    assert ms_per_trial <= TARGET_MS[name]
