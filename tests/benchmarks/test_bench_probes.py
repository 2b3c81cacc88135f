"""Micro benchmark of the process-tree sampler: one sample of a 20-process tree.

Target: <= 2.5 ms per sample (at the default 0.5 s interval that is 0.5 % of one core).
Run with `pytest tests/benchmarks/test_bench_probes.py --benchmark-enable`.
"""

from __future__ import annotations

from probes.tree import ProcessTreeSampler
from tests.scripts.targets import target

TARGET_S = 0.0025


def test_one_tree_sample_of_20_processes(benchmark) -> None:  # noqa: ANN001
    with target("sleeping_children.py", "20", "60") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.5)
        sampler.sample_once()  # baseline
        benchmark.group = "probe-tree-sample"
        sample = benchmark(sampler.sample_once)
    assert sample is not None and sample["n_procs"] == 21
    if benchmark.stats is not None:  # measured (--benchmark-enable), not just run once
        assert benchmark.stats.stats.median <= TARGET_S
