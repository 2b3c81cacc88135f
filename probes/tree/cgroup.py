"""The cgroup a process lives in: its CPU usage counter, the pids it holds, the CPU quota that
binds it (its own cgroup and parents, v1 and v2) with its throttle counters, and so the cores it
can use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_MAX_CGROUP_DIRS = 64


class _CgroupCounter:
    """CPU seconds used by the cgroup a process lives in, and the pids that cgroup holds."""

    def __init__(self, directory: Path, usage_file: str) -> None:
        self.directory = directory
        self.usage_file = usage_file

    @classmethod
    def for_pid(cls, pid: int, root: Path = _CGROUP_ROOT) -> _CgroupCounter | None:
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            controllers, rel = parts[1].split(","), parts[2].lstrip("/")
            if "cpuacct" in controllers:
                for mount in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"):
                    d = root / mount / rel
                    if (d / "cpuacct.usage").is_file():
                        return cls(d, "cpuacct.usage")
        for line in lines:
            if line.startswith("0::"):
                rel = line[3:].lstrip("/")
                for d in (root / rel, root / "unified" / rel):
                    if (d / "cpu.stat").is_file():
                        return cls(d, "cpu.stat")
        return None

    def usage_s(self) -> float | None:
        try:
            text = (self.directory / self.usage_file).read_text()
        except OSError:
            return None
        if self.usage_file == "cpuacct.usage":
            return int(text) / 1e9
        for line in text.splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
        return None

    def pids(self) -> set[int] | None:
        """Processes in the cgroup and its sub-cgroups; None when unreadable or too large."""
        out: set[int] = set()
        n = 0
        for dirpath, _dirs, _files in os.walk(self.directory):
            n += 1
            if n > _MAX_CGROUP_DIRS:
                return None
            try:
                out.update(int(x) for x in Path(dirpath, "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                return None
        return out


# --- the CPU quota of a process's own cgroup, and its throttling ----------------------------------
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


@dataclass(frozen=True)
class Throttling:
    """Cumulative CFS counters of a cgroup with a quota: enforcement periods, periods in which the
    cgroup ran out of quota and was stopped, and the time it spent stopped."""

    periods: int
    throttled: int
    throttled_s: float


@dataclass(frozen=True)
class CpuQuota:
    """The CPU quota that binds a process: the smallest over its cgroup and the cgroup's parents
    (a parent's quota caps all its children), where it is set, and how it is enforced."""

    cores: float
    directory: Path
    version: int  # 1: cgroup v1 `cpu` controller; 2: the unified hierarchy

    def throttling(self) -> Throttling | None:
        """The quota's cgroup's throttle counters now (None when unreadable)."""
        try:
            text = (self.directory / "cpu.stat").read_text()
        except OSError:
            return None
        vals: dict[str, int] = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                vals[parts[0]] = int(parts[1])
        if "nr_periods" not in vals:
            return None
        # v1 counts throttled time in ns, v2 in µs
        if "throttled_usec" in vals:
            stopped = vals["throttled_usec"] / 1e6
        else:
            stopped = vals.get("throttled_time", 0) / 1e9
        return Throttling(vals["nr_periods"], vals.get("nr_throttled", 0), stopped)


def _quota_v1(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v2(directory: Path) -> float | None:
    try:
        text = (directory / "cpu.max").read_text().split()
        return None if not text or text[0] == "max" else int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError, ZeroDivisionError):
        return None


def _walk_up(leaf: Path, top: Path) -> list[Path]:
    """leaf, its parent, ... up to and including `top` (leaf itself when it is not under top)."""
    out = [leaf]
    d = leaf
    while d != top and top in d.parents:
        d = d.parent
        out.append(d)
    return out


def cpu_quota(pid: int | str = "self", root: Path = _CGROUP_ROOT) -> CpuQuota | None:
    """The CPU quota that binds process `pid` from its own cgroup (/proc/PID/cgroup; the v1 `cpu`
    controller, else the unified hierarchy) and that cgroup's parents; None when unlimited."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    candidates: list[tuple[Path, Path, int]] = []  # (leaf dir, mount dir, version)
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        rel = parts[2].strip().lstrip("/")
        if "cpu" in parts[1].split(","):
            for name in _V1_CPU_MOUNTS:
                if (root / name).is_dir():
                    candidates.append((root / name / rel, root / name, 1))
        elif parts[0] == "0" and parts[1] == "":
            for unified in (root, root / "unified"):
                if (unified / "cgroup.controllers").is_file():
                    candidates.append((unified / rel, unified, 2))
    best: CpuQuota | None = None
    for leaf, top, version in candidates:
        read = _quota_v1 if version == 1 else _quota_v2
        for d in _walk_up(leaf, top):
            cores = read(d)
            if cores is not None and (best is None or cores < best.cores):
                best = CpuQuota(cores, d, version)
    return best


def affinity(pid: int = 0) -> int:
    """CPUs process `pid` may run on (its affinity mask; 0 = this process)."""
    try:
        return len(os.sched_getaffinity(pid))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def usable_cores(pid: int = 0) -> int:
    """Cores process `pid` can keep busy at once: its affinity mask capped by the CPU quota of its
    own cgroup and its parents (at least 1; a quota of 1.5 cores keeps one core busy)."""
    cores = affinity(pid)
    quota = cpu_quota(pid or "self")
    if quota is not None:
        cores = min(cores, max(1, int(quota.cores)))
    return max(1, cores)
