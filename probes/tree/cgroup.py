"""The cgroup a process lives in: its CPU usage counter and the pids it holds."""

from __future__ import annotations

import os
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
