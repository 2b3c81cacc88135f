"""The machine's process table from /proc (or psutil elsewhere): parent, start time and name of
every process, kept across samples, and the descendants of a set of roots."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

_LINUX_PROC = os.path.isdir("/proc/self/task")
_FULL_SCAN_EVERY = 10


@dataclass(frozen=True)
class ProcEntry:
    """One row of the machine's process table: parent, start time (identity) and short name."""

    ppid: int
    start: float
    name: str


def _read_stat(pid: int | str) -> tuple[str, list[bytes]] | None:
    """(comm, fields after the comm) of /proc/<pid>/stat, or None when the process is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)  # one read, no buffered file object: it is the hot path
    except OSError:
        return None
    finally:
        os.close(fd)
    close = data.rfind(b")")
    fields = data[close + 2 :].split()
    if len(fields) < 22:
        return None
    return data[data.find(b"(") + 1 : close].decode(errors="replace"), fields


def _entry(pid: int | str) -> ProcEntry | None:
    stat = _read_stat(pid)
    if stat is None:
        return None
    comm, f = stat
    # after "pid (comm) ": [0] state, [1] ppid, ..., [19] starttime (clock ticks since boot)
    return ProcEntry(int(f[1]), float(f[19]), comm)


def scan_processes() -> dict[int, ProcEntry]:
    """Every process on the machine: pid -> ProcEntry (on Linux one /proc/<pid>/stat read each)."""
    if not _LINUX_PROC:
        out: dict[int, ProcEntry] = {}
        for p in psutil.process_iter(["ppid", "create_time", "name"]):
            info = p.info
            if info.get("ppid") is None or info.get("create_time") is None:
                continue
            out[p.pid] = ProcEntry(info["ppid"], info["create_time"], info.get("name") or "")
        return out
    table: dict[int, ProcEntry] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            e = _entry(name)
            if e is not None:
                table[int(name)] = e
    return table


class _ProcTable:
    """The process table kept across samples: only new pids are read, with a full rescan every
    few samples (a re-parented orphan, a pid reused by an unrelated process)."""

    def __init__(self) -> None:
        self.table: dict[int, ProcEntry] = {}
        self._refreshes = 0

    def refresh(self) -> dict[int, ProcEntry]:
        if not _LINUX_PROC or self._refreshes % _FULL_SCAN_EVERY == 0:
            self.table = scan_processes()
        else:
            old = self.table
            table: dict[int, ProcEntry] = {}
            for name in os.listdir("/proc"):
                if not name.isdigit():
                    continue
                pid = int(name)
                e = old.get(pid)
                if e is None:
                    e = _entry(name)
                    if e is None:
                        continue
                table[pid] = e
            self.table = table
        self._refreshes += 1
        return self.table

    def update(self, pid: int, entry: ProcEntry) -> None:
        self.table[pid] = entry


def descendants(table: dict[int, ProcEntry], roots: Iterable[int]) -> list[int]:
    """The given pids (those alive) and all their descendants, parents before children."""
    kids: dict[int, list[int]] = {}
    for pid, e in table.items():
        kids.setdefault(e.ppid, []).append(pid)
    seen: set[int] = set()
    order: list[int] = []
    stack = [r for r in roots if r in table]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        order.append(pid)
        stack.extend(kids.get(pid, ()))
    return order
