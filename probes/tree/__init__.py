"""Process-tree sampler: every process under a root, its threads, CPU, memory, context switches
(schema and method in `probes.tree.sampler`)."""

from __future__ import annotations

from probes.tree.sampler import (
    BUSY_THREAD_MIN_PCT,
    ProcEntry,
    ProcessTreeSampler,
    _busy_pct,
    _CgroupCounter,
    descendants,
    is_ray_agent,
    is_ray_worker,
    looks_python,
    ray_worker_pids,
    scan_processes,
)

__all__ = [
    "BUSY_THREAD_MIN_PCT",
    "ProcEntry",
    "ProcessTreeSampler",
    "_CgroupCounter",
    "_busy_pct",
    "descendants",
    "is_ray_agent",
    "is_ray_worker",
    "looks_python",
    "ray_worker_pids",
    "scan_processes",
]
