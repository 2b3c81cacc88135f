"""CPU the tree used that no sample caught (children that started and ended between two samples):
the growth of the tracked processes' children times, or, when the root's cgroup holds only the
tree and this sampler, that cgroup's CPU counter (methods in probes.tree.sampler's docstring).
A negative balance is carried to the next sample, so the sum over a run stays right."""

from __future__ import annotations

import psutil

from probes.tree.cgroup import _CgroupCounter
from probes.tree.proctable import ProcEntry

_CGROUP_RECHECK = 10  # samples before a cgroup shared with other processes is checked again


class Unattributed:
    """The unattributed-CPU balance of one sampler's tree, kept across its samples."""

    def __init__(self, root_pid: int) -> None:
        self._carry_children = 0.0
        self._carry_cgroup = 0.0
        self._cgroup = _CgroupCounter.for_pid(root_pid)
        self._cgroup_usage: float | None = None
        self._cgroup_wait = 0
        self._self = psutil.Process()
        self._self_cpu: float | None = None

    def account(
        self, children_raw: float, attributed: float, current: set[int],
        table: dict[int, ProcEntry],
    ) -> tuple[float, str]:
        """CPU seconds of the interval no sample caught, and the method that measured them:
        `children_raw` is the growth of the tree's children times minus the reaped processes'
        last-seen CPU, `attributed` the CPU charged to the tree's processes, `current` their
        pids. Call once per sample, the baseline included (it keeps the counters' last values)."""
        cg_usage = self._cgroup.usage_s() if self._cgroup is not None else None
        self_cpu = self._own_cpu()
        out = self._unattributed(children_raw, attributed, cg_usage, self_cpu, current, table)
        self._cgroup_usage, self._self_cpu = cg_usage, self_cpu
        return out

    def _own_cpu(self) -> float | None:
        try:
            ct = self._self.cpu_times()
        except psutil.Error:
            return None
        return float(ct.user + ct.system + ct.children_user + ct.children_system)

    def _unattributed(
        self,
        children_raw: float,
        attributed: float,
        cg_usage: float | None,
        self_cpu: float | None,
        current: set[int],
        table: dict[int, ProcEntry],
    ) -> tuple[float, str]:
        value = children_raw + self._carry_children
        self._carry_children = min(0.0, value)
        result, method = max(0.0, value), "children_times"
        if (
            self._cgroup is not None and cg_usage is not None and self._cgroup_usage is not None
            and self_cpu is not None and self._self_cpu is not None
        ):
            me = self._self.pid
            self._cgroup_wait -= 1
            if self._cgroup_wait > 0:
                return result, method
            members = self._cgroup.pids()
            allowed = current | {me} | {pid for pid, e in table.items() if e.ppid == me}
            if members is None:
                self._cgroup = None  # a host-wide hierarchy: not the job's own cgroup
            elif not members <= allowed:
                self._cgroup_wait = _CGROUP_RECHECK  # shared with others; look again later
            else:
                # this process (and the py-spy it runs) only counts when it shares the cgroup
                own = self_cpu - self._self_cpu if me in members and me not in current else 0.0
                value = (cg_usage - self._cgroup_usage) - attributed - own + self._carry_cgroup
                self._carry_cgroup = min(0.0, value)
                return max(0.0, value), "cgroup"
        return result, method
