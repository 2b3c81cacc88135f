"""Process-tree sampler: every process under a root, its threads, CPU, memory, context switches.

proctable  the machine's process table and the descendants of a set of roots
identity   what a process is (Python, a Ray worker, a Ray agent) by name and command line
procfs     per-process and per-thread figures from /proc (psutil elsewhere), /proc/stat
cgroup     the cgroup a process lives in: CPU usage, members, the CPU quota that binds it
limits     per sample: per-core busy, steal, and the quota's throttling
unattributed  CPU of children no sample caught
sampler    ProcessTreeSampler: the sample schema and how its figures are derived
"""

from __future__ import annotations

from probes.tree.cgroup import _CgroupCounter
from probes.tree.identity import is_ray_agent, is_ray_worker, looks_python, ray_worker_pids
from probes.tree.procfs import _busy_pct
from probes.tree.proctable import ProcEntry, descendants, scan_processes
from probes.tree.sampler import BUSY_THREAD_MIN_PCT, ProcessTreeSampler

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
