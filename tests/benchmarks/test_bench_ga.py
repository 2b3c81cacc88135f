"""Micro benchmarks of the workload: one GA generation at population 500, loop vs batched.

Target: batched >= 10x faster than loop. Run with `pytest tests/benchmarks --benchmark-enable`.
"""

from __future__ import annotations

import pytest

from bench.workload.ga import GAParams, GASettings, GeneticAlgorithm


@pytest.mark.parametrize("mode", ["loop", "batched"])
def test_one_generation_population_500(benchmark, mode: str) -> None:  # noqa: ANN001
    import torch

    torch.set_num_threads(1)
    ga = GeneticAlgorithm(GAParams(), GASettings(population=500, mode=mode), seed=0)
    before = ga.evaluations
    benchmark.group = "ga-generation-p500"
    benchmark(ga.step)
    assert ga.evaluations > before
