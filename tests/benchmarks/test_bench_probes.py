"""Micro benchmarks of the process-tree sampler.

Targets: one sample of a 20-process tree <= 2.5 ms; one sample at the original machine's scale
(130 processes, 400 threads) <= 10 ms (at the default 0.5 s interval, 2 % of one core); and the
samples.jsonl that tree writes at the default interval <= 20 MB an hour.
Run with `pytest tests/benchmarks/test_bench_probes.py --benchmark-enable`.
"""

from __future__ import annotations

import json
import statistics
import time

from probes.tree import ProcessTreeSampler
from tests.scripts.targets import target

TARGET_S = 0.0025
WIDE_TARGET_S = 0.010
WIDE = ("130", "400", "2")  # processes, threads, half-busy threads
DEFAULT_INTERVAL_S = 0.5
MAX_BYTES_PER_HOUR = 20e6


def test_one_tree_sample_of_20_processes(benchmark) -> None:  # noqa: ANN001
    with target("sleeping_children.py", "20", "60") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.5)
        sampler.sample_once()  # baseline
        benchmark.group = "probe-tree-sample"
        sample = benchmark(sampler.sample_once)
    assert sample is not None and sample["n_procs"] == 21
    if benchmark.stats is not None:  # measured (--benchmark-enable), not just run once
        assert benchmark.stats.stats.median <= TARGET_S


def test_one_tree_sample_of_130_processes_and_400_threads(benchmark) -> None:  # noqa: ANN001
    """The cost is the CPU a sample takes (thread time): on a loaded machine the wall time that
    pytest-benchmark reports also holds the time the sampler waited for a core."""
    with target("wide_tree.py", *WIDE, "60") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=DEFAULT_INTERVAL_S)
        sampler.sample_once()
        benchmark.group = "probe-tree-sample"
        sample = benchmark(sampler.sample_once)
        cpu = []
        for _ in range(20):
            t0 = time.thread_time()
            sampler.sample_once()
            cpu.append(time.thread_time() - t0)
    assert sample is not None and sample["n_procs"] == 130 and sample["n_threads"] == 400
    if benchmark.stats is not None:
        print(f"CPU per sample: median {statistics.median(cpu) * 1e3:.1f} ms; wall median "
              f"{benchmark.stats.stats.median * 1e3:.1f} ms")
        assert statistics.median(cpu) <= WIDE_TARGET_S


def test_samples_of_130_processes_stay_under_20_mb_an_hour() -> None:
    """Bytes of the JSON lines the sampler writes for that tree, at the default interval."""
    lines: list[int] = []
    with target("wide_tree.py", *WIDE, "60") as proc:
        sampler = ProcessTreeSampler(
            proc.pid, lambda r: lines.append(len(json.dumps(r, separators=(",", ":"))) + 1),
            interval=DEFAULT_INTERVAL_S,
        )
        with sampler:
            time.sleep(12 * DEFAULT_INTERVAL_S + 0.2)
    steady = lines[1:]  # the first sample lists every process once, with its command line
    assert len(steady) >= 6
    per_hour = sum(steady) / len(steady) * 3600 / DEFAULT_INTERVAL_S
    print(f"first sample {lines[0]} B, then {sum(steady) / len(steady):.0f} B a sample: "
          f"{per_hour / 1e6:.1f} MB an hour")
    assert per_hour <= MAX_BYTES_PER_HOUR
