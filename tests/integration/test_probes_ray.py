"""Ray workers under the tree sampler: with ray.init() in the root, raylet and its workers are
descendants of the root, and ray_worker_pids() finds the workers (no extra_pids_fn needed)."""

from __future__ import annotations

import time

import psutil
import pytest

from probes.tree import ProcessTreeSampler, ray_worker_pids
from tests.scripts.targets import target

pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_local_ray_workers_are_in_the_root_tree() -> None:
    with target("ray_tasks.py", "40") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.5)
        # The first sample lists every process (all new); later ones only the busy or changed.
        first = sampler.sample_once()
        # Ray starts and retires idle workers on its own: list them before the sample so each
        # must be in it unless it has exited since.
        workers = ray_worker_pids(proc.pid)
        samples = []
        for _ in range(3):
            time.sleep(0.5)
            samples.append(sampler.sample_once())
        alive = {w for w in workers if psutil.pid_exists(w)}
    assert first is not None and all(s is not None for s in samples)
    by_pid = {p["pid"]: p for s in [first, *samples] if s for p in s["procs"]}
    assert any(p["name"] == "raylet" for p in by_pid.values()), sorted(
        p["name"] for p in by_pid.values()
    )
    assert len(workers) >= 2, workers
    assert alive <= set(by_pid), (alive, sorted(by_pid))  # recursive children already cover Ray
    assert all(by_pid[by_pid[w]["ppid"]]["name"] == "raylet" for w in alive)
    # the two tasks spin: their workers show CPU
    busiest = sorted(
        (max((p["cpu_pct"] for s in samples if s for p in s["procs"] if p["pid"] == w), default=0.0)
         for w in alive), reverse=True,
    )
    assert busiest[0] > 10, busiest
