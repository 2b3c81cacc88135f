"""What limits a tree from outside it, read beside each tree sample: busy share of each core,
CPU steal by the hypervisor, and the CPU quota of the root's own cgroup with its throttling."""

from __future__ import annotations

from typing import Any

from probes.tree.cgroup import CpuQuota, Throttling, affinity, cpu_quota
from probes.tree.procfs import _busy_pct, read_cpu_times, steal_pct

# Samples between two looks at the root's cgroup quota (a job can be moved, a quota changed).
QUOTA_RECHECK = 10


class Limits:
    """Deltas between consecutive reads: per-core busy %, steal %, and throttling of the quota
    that binds `pid` (its cgroup or a parent's). Keep one per sampler: the state is its own."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._times: tuple[Any, list[Any]] | None = None
        self._reads = 0
        self._quota: CpuQuota | None = None
        self._throttle: Throttling | None = None
        self.usable_cores = 1
        self._look_at_quota()

    def _look_at_quota(self) -> None:
        quota = cpu_quota(self.pid)
        if quota != self._quota:
            self._quota = quota
            self._throttle = None if quota is None else quota.throttling()
        cores = affinity(self.pid)
        if quota is not None:
            cores = min(cores, max(1, int(quota.cores)))
        self.usable_cores = max(1, cores)

    def read(self) -> dict[str, Any]:
        """`per_core` and `steal_pct` since the last read, and where a quota binds the root,
        `cpu_quota` (cores) and `throttle`: periods, throttled periods, throttled seconds."""
        self._reads += 1
        if self._reads % QUOTA_RECHECK == 0:
            self._look_at_quota()
        # Own deltas of the kernel's counters rather than psutil.cpu_percent(), whose "since
        # last call" state is shared by every caller in the process.
        now = read_cpu_times()
        before, self._times = self._times, now
        out: dict[str, Any] = {}
        if before is None or len(before[1]) != len(now[1]):
            out["per_core"] = [0.0] * len(now[1])
            out["steal_pct"] = 0.0
        else:
            out["per_core"] = [_busy_pct(a, b) for a, b in zip(before[1], now[1], strict=True)]
            out["steal_pct"] = steal_pct(before[0], now[0])
        if self._quota is not None:
            out["cpu_quota"] = round(self._quota.cores, 3)
            t = self._quota.throttling()
            prev, self._throttle = self._throttle, t
            if t is not None and prev is not None:
                out["throttle"] = {
                    "periods": max(0, t.periods - prev.periods),
                    "throttled": max(0, t.throttled - prev.throttled),
                    "throttled_s": round(max(0.0, t.throttled_s - prev.throttled_s), 4),
                }
        return out
