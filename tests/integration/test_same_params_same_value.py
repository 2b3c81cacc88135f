"""Same params, same value: a trial's value is a function of its params alone, also when trials run
at once as threads of one process (optuna-threads) and share its torch, OpenMP and MKL state and
the cached regression task. Checked bitwise against the same trials run one at a time."""

from __future__ import annotations

import random
import threading

import pytest

from bench.workload.ga import GAParams, GASettings, run_ga


def _params(n: int) -> list[GAParams]:
    rng = random.Random(7)
    return [GAParams(mutation_rate=rng.uniform(0.005, 0.5), mutation_sigma=rng.uniform(0.01, 1.0),
                     crossover_rate=rng.random(), tournament_size=rng.randint(2, 8),
                     elite_frac=rng.uniform(0.0, 0.2)) for _ in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["loop", "batched"])
def test_concurrent_trials_in_threads_give_the_values_of_trials_run_alone(mode: str) -> None:
    settings = GASettings(population=16, generations=3, hidden=16, mode=mode)
    params = _params(8)
    alone = [run_ga(p, settings, seed=0) for p in params]
    together: dict[int, float] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(indices: list[int]) -> None:
        try:
            start.wait()
            for i in indices:
                together[i] = run_ga(params[i], settings, seed=0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=([i, i + 4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [together[i] for i in range(8)] == alone
