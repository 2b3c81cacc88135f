"""Process-tree sampler: every process under a root, its threads, CPU, memory and context switches.

Each sample is one dict (schema below) handed to a sink. CPU figures are deltas of cumulative
CPU times between two samples, kept per process keyed by (pid, start time): a reused pid is a new
process, and no fresh object's meaningless first `cpu_percent()` is ever used. 100 % = one core.

Sample schema (readers in diagnosis and report depend on it)::

    {"kind": "tree", "t": time.time(), "root": pid, "interval": s, "n_procs", "n_threads",
     "cpu_pct_total", "capacity_pct", "usable_cores", "per_core": [%...], "load1",
     "unattributed_cpu_s", "unattributed_method", "ctx_invol_delta", "ctx_vol_delta",
     "procs": [{"pid", "ppid", "name", "cmd", "status", "cpu_pct", "num_threads", "rss",
                "ctx_vol", "ctx_invol", "ctx_vol_delta", "ctx_invol_delta",
                "threads": [{"tid", "cpu_s", "cpu_pct"}], "busy_threads", "is_root"}]}

`interval` is the measured time since the previous sample (the span the CPU figures cover), not
the configured period. `threads` holds the busiest `top_threads` threads of a process in the
interval; `cpu_s` is CPU seconds used in the interval. `busy_threads` counts every thread of the
process that used at least BUSY_THREAD_MIN_PCT of a core, so 387 threads are not reduced to the 8
listed. `ctx_vol` / `ctx_invol` are summed over the process's live threads (Linux counts them per
thread), so they can drop when a thread exits; deltas are clamped at zero. A process born during
the interval is charged its whole CPU; one first seen that is older than the previous sample is
charged nothing until its second sample. `cmd` is cut to 120 characters with secrets masked.

On Linux the figures are read straight from /proc (stat, status, task/*/stat, task/*/status): one
stat read gives CPU times, parent, start time (the identity check), thread count and RSS, which
keeps a sample of a 20-process tree near 1 ms. The machine's process table is re-read in full
every few samples and only for new pids in between. psutil.Process objects, one per (pid, start
time) kept across samples, supply command lines and, on other platforms, every figure.

Unattributed CPU is CPU the tree used that no sample caught: children that started and ended
between two samples (compilers, `subprocess` helpers, short workers). Two methods:

- "children_times": the growth of `children_user + children_system` of every tracked process
  (the kernel adds a child's whole CPU to its parent's when the parent reaps it), minus the CPU
  last seen for tracked processes that exited and were reaped inside the tree. Misses children
  reaped outside the tree (orphans re-parented to init) and children not yet reaped.
- "cgroup": when every process of the root's cgroup is the tree, this sampler or its own children
  (a container that runs only the job), the cgroup's CPU counter (v2 cpu.stat usage_usec, v1
  cpuacct.usage) minus the CPU attributed to the tree and to this sampler's process. This catches
  everything, re-parented orphans included.

A negative balance (a child reaped between reading its parent and listing the tree) is carried to
the next sample instead of being reported, so the sum over a run stays right.

The tree is root + all descendants + the pids `extra_pids_fn` returns and their descendants (Ray
workers of a cluster started elsewhere; see `ray_worker_pids`). Processes that vanish, turn into
zombies, deny access or reuse a pid mid-sample are handled without raising.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from probes._sampler import Sampler
from probes.machine import usable_cores
from probes.redact import redact_cmdline
from probes.tree.cgroup import _CgroupCounter
from probes.tree.identity import looks_python
from probes.tree.procfs import _busy_pct, _read_linux, _read_psutil
from probes.tree.proctable import _LINUX_PROC, ProcEntry, _ProcTable, descendants

Sink = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)

_CGROUP_RECHECK = 10  # samples before a cgroup shared with other processes is checked again
# A thread counts in a process's "busy_threads" when it used this share of a core in the interval
# (/proc counts 10 ms ticks: in 0.5 s, 5 % is two ticks or more, more than a heartbeat's wake-up).
BUSY_THREAD_MIN_PCT = 5.0


@dataclass
class _Tracked:
    proc: psutil.Process
    start: float
    create_time: float
    ppid: int
    name: str
    cmd: str
    is_python: bool
    cpu_s: float = 0.0
    children_s: float = 0.0
    ctx_vol: int = 0
    ctx_invol: int = 0
    threads: dict[int, float] = field(default_factory=dict)
    status: str = ""
    has_baseline: bool = False



class ProcessTreeSampler(Sampler):
    """Samples a process tree every `interval` s in a daemon thread and hands dicts to `sink`
    (start/stop/`with`: probes._sampler); the loop ends by itself once the root is gone."""

    name = "probe-tree"

    def __init__(
        self,
        root_pid: int,
        sink: Sink,
        interval: float = 0.5,
        extra_pids_fn: Callable[[], list[int]] | None = None,
        top_threads: int = 8,
    ) -> None:
        super().__init__(interval)
        self.root_pid = root_pid
        self.sink = sink
        self.interval = interval
        self.extra_pids_fn = extra_pids_fn
        self.top_threads = top_threads
        self.usable_cores = usable_cores()
        self._tracked: dict[int, _Tracked] = {}
        self._table = _ProcTable()
        self._last_wall: float | None = None
        self._last_mono: float | None = None
        self._cpu_times: list[Any] | None = None
        self._carry_children = 0.0
        self._carry_cgroup = 0.0
        self._cgroup = _CgroupCounter.for_pid(root_pid)
        self._cgroup_usage: float | None = None
        self._cgroup_wait = 0
        self._self = psutil.Process()
        self._self_cpu: float | None = None
        self._python_pids: list[int] = []
        self._root_gone = False
        self._lock = threading.Lock()

    # life cycle (probes._sampler) -------------------------------------------------------
    def _before_start(self) -> None:
        with self._lock:  # the baseline, so the first tick already covers an interval
            self._collect()

    def tick(self) -> bool:
        sample = self.sample_once()
        if sample is None:
            return not self._root_gone
        try:
            self.sink(sample)
        except Exception:
            self.errors += 1
            log.warning("tree sink failed", exc_info=self.errors == 1)
        return True

    # sampling -----------------------------------------------------------------------------
    def python_pids(self) -> list[int]:
        """Python processes of the tree at the last sample, root first then busiest first."""
        return list(self._python_pids)

    def sample_once(self) -> dict[str, Any] | None:
        """One sample (None once the root is gone). The first call also takes the baseline."""
        with self._lock:
            if self._last_mono is None:
                self._collect()
                time.sleep(min(self.interval, 0.05))
            return self._collect()

    def _members(self, table: dict[int, ProcEntry]) -> list[int]:
        roots = [self.root_pid]
        if self.extra_pids_fn is not None:
            try:
                roots.extend(self.extra_pids_fn())
            except Exception:
                log.debug("extra_pids_fn failed", exc_info=True)
        return descendants(table, roots)

    def _track(self, pid: int, entry: ProcEntry) -> _Tracked | None:
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            return None
        try:
            cmdline = proc.cmdline()
        except psutil.Error:
            cmdline = []
        try:
            create_time = proc.create_time()
        except psutil.Error:
            create_time = time.time()
        return _Tracked(
            proc=proc, start=entry.start, create_time=create_time, ppid=entry.ppid,
            name=entry.name, cmd=redact_cmdline(cmdline or [entry.name]),
            is_python=looks_python(entry.name, cmdline),
        )

    def _collect(self) -> dict[str, Any] | None:
        wall, mono = time.time(), time.monotonic()
        dt = None if self._last_mono is None else max(mono - self._last_mono, 1e-6)
        prev_wall = self._last_wall
        table = self._table.refresh()
        if self.root_pid not in table:
            self._root_gone = True
            return None

        previous = self._tracked
        current: dict[int, _Tracked] = {}
        rows: list[dict[str, Any]] = []
        grown_children = 0.0
        attributed = 0.0
        ctx_vol_total = ctx_invol_total = n_threads = 0
        for pid in self._members(table):
            entry = table[pid]
            tr = previous.get(pid)
            if tr is not None and tr.start != entry.start:
                tr = None  # pid reused: the old process is gone, this is another one
            if tr is None:
                tr = self._track(pid, entry)
                if tr is None:
                    continue
            elif tr.name != entry.name:  # exec'd into another program
                try:
                    tr.cmd = redact_cmdline(tr.proc.cmdline() or [entry.name])
                except psutil.Error:
                    tr.cmd = entry.name
                tr.name = entry.name
            r = _read_linux(pid) if _LINUX_PROC else _read_psutil(tr.proc, tr.start)
            if r is not None and r.start != tr.start:
                # pid reused since the table was read: the old process is gone, this is another
                entry = ProcEntry(r.ppid, r.start, entry.name)
                self._table.update(pid, entry)
                if pid == self.root_pid:
                    self._root_gone = True
                    return None
                fresh = self._track(pid, entry)
                if fresh is None:
                    continue
                tr = fresh
            if r is None:
                continue  # exited between the scan and the read
            if r.ppid != entry.ppid:  # re-parented; keep the table right for the next sample
                self._table.update(pid, ProcEntry(r.ppid, entry.start, entry.name))
            tr.ppid = r.ppid
            # How much of this process's CPU falls inside the interval
            born_inside = prev_wall is not None and tr.create_time >= prev_wall - 0.01
            if tr.has_baseline:
                d_cpu = max(0.0, r.cpu_s - tr.cpu_s)
                d_children = max(0.0, r.children_s - tr.children_s)
                d_vol, d_invol = max(0, r.ctx_vol - tr.ctx_vol), max(0, r.ctx_invol - tr.ctx_invol)
            elif born_inside:
                d_cpu, d_children, d_vol, d_invol = r.cpu_s, r.children_s, r.ctx_vol, r.ctx_invol
            else:
                d_cpu = d_children = 0.0
                d_vol = d_invol = 0
            grown_children += d_children
            attributed += d_cpu
            thread_rows: list[tuple[float, int]] = []
            for tid, t_cpu in r.threads:
                before = tr.threads.get(tid)
                if before is not None:
                    thread_rows.append((max(0.0, t_cpu - before), tid))
                elif tr.has_baseline or born_inside:
                    thread_rows.append((t_cpu, tid))
                else:
                    thread_rows.append((0.0, tid))
            thread_rows.sort(reverse=True)
            tr.threads = dict(r.threads)
            tr.cpu_s, tr.children_s = r.cpu_s, r.children_s
            tr.ctx_vol, tr.ctx_invol = r.ctx_vol, r.ctx_invol
            tr.status = r.status
            tr.has_baseline = True
            current[pid] = tr
            n_threads += r.num_threads
            ctx_vol_total += d_vol
            ctx_invol_total += d_invol
            if dt is not None:
                rows.append({
                    "pid": pid,
                    "ppid": tr.ppid,
                    "name": tr.name,
                    "cmd": tr.cmd,
                    "status": r.status,
                    "cpu_pct": round(100.0 * d_cpu / dt, 2),
                    "num_threads": r.num_threads,
                    "rss": r.rss,
                    "ctx_vol": r.ctx_vol,
                    "ctx_invol": r.ctx_invol,
                    "ctx_vol_delta": d_vol,
                    "ctx_invol_delta": d_invol,
                    "threads": [
                        {"tid": tid, "cpu_s": round(c, 4), "cpu_pct": round(100.0 * c / dt, 2)}
                        for c, tid in thread_rows[: self.top_threads]
                    ],
                    "busy_threads": sum(
                        1 for c, _ in thread_rows if 100.0 * c / dt >= BUSY_THREAD_MIN_PCT
                    ),
                    "is_root": pid == self.root_pid,
                })

        gone_cpu = self._reaped_cpu(previous, current)
        self._tracked = current
        per_core = self._per_core()
        cg_usage = self._cgroup.usage_s() if self._cgroup is not None else None
        self_cpu = self._own_cpu()
        unattributed, method = self._unattributed(
            grown_children - gone_cpu, attributed, cg_usage, self_cpu, current, table,
        )
        self._cgroup_usage, self._self_cpu = cg_usage, self_cpu
        self._last_wall, self._last_mono = wall, mono
        by_cpu = {row["pid"]: row["cpu_pct"] for row in rows}
        pythons = sorted(
            (p for p in current.values() if p.is_python),
            key=lambda p: (p.proc.pid != self.root_pid, -by_cpu.get(p.proc.pid, 0.0)),
        )
        self._python_pids = [p.proc.pid for p in pythons]
        if dt is None:
            return None
        try:
            load1 = os.getloadavg()[0]
        except OSError:
            load1 = 0.0
        cpu_total = round(sum(row["cpu_pct"] for row in rows), 2)
        return {
            "kind": "tree",
            "t": wall,
            "root": self.root_pid,
            "interval": round(dt, 4),
            "n_procs": len(rows),
            "n_threads": n_threads,
            "cpu_pct_total": cpu_total,
            "capacity_pct": float(self.usable_cores * 100),
            "usable_cores": self.usable_cores,
            "per_core": per_core,
            "load1": round(load1, 2),
            "unattributed_cpu_s": round(unattributed, 4),
            "unattributed_method": method,
            "ctx_invol_delta": ctx_invol_total,
            "ctx_vol_delta": ctx_vol_total,
            "procs": rows,
        }

    def _reaped_cpu(self, previous: dict[int, _Tracked], current: dict[int, _Tracked]) -> float:
        """Last-seen CPU (own + reaped children) of tracked processes that exited inside the tree.

        Their parent's children_times grew by their whole CPU; this part was already seen.
        """
        gone = {
            pid: tr for pid, tr in previous.items()
            if pid not in current or current[pid].start != tr.start
        }
        if not gone:
            return 0.0
        stayed = {pid for pid, tr in previous.items() if pid not in gone}
        total = 0.0
        for tr in gone.values():
            try:
                if tr.proc.is_running():
                    continue  # left the tree (re-parented), did not exit: nobody reaped it here
            except psutil.Error:
                pass
            parent, hops = tr.ppid, 0
            while parent in gone and hops < 64:
                parent, hops = gone[parent].ppid, hops + 1
            if parent in stayed:
                total += tr.cpu_s + tr.children_s
        return total

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
        current: dict[int, _Tracked],
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
            allowed = set(current) | {me} | {pid for pid, e in table.items() if e.ppid == me}
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

    def _per_core(self) -> list[float]:
        # Own deltas of cpu_times(percpu) rather than psutil.cpu_percent(), whose "since last
        # call" state is shared by every caller in the process.
        now = psutil.cpu_times(percpu=True)
        before, self._cpu_times = self._cpu_times, now
        if before is None or len(before) != len(now):
            return [0.0] * len(now)
        return [_busy_pct(a, b) for a, b in zip(before, now, strict=True)]
