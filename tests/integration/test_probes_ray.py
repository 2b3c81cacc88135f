"""Ray workers under the tree sampler: with ray.init() in the root, raylet and its workers are
descendants of the root, and ray_worker_pids() finds the workers (no extra_pids_fn needed)."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from probes.tree import ProcessTreeSampler, ray_worker_pids
from tests.scripts.targets import target

pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_local_ray_workers_are_in_the_root_tree(tmp_path: Path) -> None:
    spinning = tmp_path / "spinning"
    # The tasks spin longer than the test runs (the tree is killed after it): on a loaded machine
    # Ray may start the second one long after the first.
    with target("ray_tasks.py", "600", str(spinning)) as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.5)
        # The first sample lists every process (all new); later ones only the busy or changed.
        first = sampler.sample_once()
        # Ray starts and retires idle workers on its own: list them before the sample so each
        # must be in it unless it has exited since.
        workers = ray_worker_pids(proc.pid)
        spinners = {int(pid) for pid in spinning.read_text().split()}
        cpu_s_before = {w: sum(psutil.Process(w).cpu_times()[:2]) for w in spinners}
        t0 = time.monotonic()
        samples = []
        for _ in range(3):
            time.sleep(0.5)
            samples.append(sampler.sample_once())
        # What the kernel says each spinner used meanwhile, in % of a core.
        used = {w: 100 * (sum(psutil.Process(w).cpu_times()[:2]) - c) / (time.monotonic() - t0)
                for w, c in cpu_s_before.items()}
        alive = {w for w in workers if psutil.pid_exists(w)}
        nices = {w: psutil.Process(w).nice() for w in spinners}
    assert first is not None and all(s is not None for s in samples)
    by_pid = {p["pid"]: p for s in [first, *samples] if s for p in s["procs"]}
    assert any(p["name"] == "raylet" for p in by_pid.values()), sorted(
        p["name"] for p in by_pid.values()
    )
    assert len(workers) >= 2, workers
    assert alive <= set(by_pid), (alive, sorted(by_pid))  # recursive children already cover Ray
    assert all(by_pid[by_pid[w]["ppid"]]["name"] == "raylet" for w in alive)
    # The two workers running the tasks (Ray may keep idle ones beside them) are among those
    # found, in the tree, and the sampler charges them the CPU the kernel says they used. Not a
    # fixed bar: Ray runs its workers at nice 15, so beside two CPU hogs a spinning task gets ~4%
    # of a core, on a quiet machine ~100%.
    assert len(spinners) == 2 and spinners <= alive, (spinners, alive)
    cpu = {w: [p["cpu_pct"] for s in samples if s for p in s["procs"] if p["pid"] == w] for w in spinners}
    for w in spinners:
        assert used[w] > 1 and cpu[w], (used, cpu)
        assert abs(sum(cpu[w]) / len(cpu[w]) - used[w]) < max(5.0, 0.3 * used[w]), (used, cpu)
    # Each worker's row carries the niceness the kernel gives it (Ray's default is 15), which
    # the diagnosis needs to say why such a run starves beside other load.
    rows = [p for s in samples if s for p in s["procs"] if p["pid"] in spinners]
    assert rows and all(p.get("nice", 0) == nices[p["pid"]] for p in rows), (nices, rows)
