"""Process-tree sampler: every process under a root, its threads, CPU, memory and context switches.

Each sample is one dict (schema below) handed to a sink. CPU figures are deltas of cumulative
CPU times between two samples, kept per process keyed by (pid, start time): a reused pid is a new
process, and no fresh object's meaningless first `cpu_percent()` is ever used. 100 % = one core.

Sample schema (readers in diagnosis and report depend on it; [..] = only sometimes there)::

    {"kind": "tree", "t": time.time(), "root": pid, "interval": s, "n_procs", "idle_procs",
     "n_threads", "cpu_pct_total", "capacity_pct", "usable_cores", "per_core": [%...],
     "steal_pct", ["cpu_quota", "throttle": {"periods", "throttled", "throttled_s"}], "load1",
     "unattributed_cpu_s", "unattributed_method", "observer_cpu_s", "ctx_invol_delta",
     "ctx_vol_delta",
     "procs": [{"pid", "ppid", "name", "status", "cpu_pct", "num_threads", "rss", ["cmd", "pools"],
                ["ctx_vol_delta", "ctx_invol_delta"], ["threads": [{"tid", "cpu_s", "cpu_pct",
                ["name"]}]], "busy_threads", "is_root", ["nice"]}]}

`interval` is the measured time since the previous sample (the span the CPU figures cover), not
the configured period. `n_procs`, `n_threads`, `cpu_pct_total` and the `ctx_*_delta` totals
cover the whole tree; `procs` lists only processes that used CPU in the interval, changed
(thread count, state, parent, command) or are listed for the first time, plus the root:
`idle_procs` counts the others (a tree of hundreds of sleeping processes stays small; `compact`
False lists all). A row has `cmd` (and for a Python process `pools`, the thread-pool libraries it has mapped:
OpenMP, OpenBLAS, MKL, PyTorch) when first listed or when it (or the parent) changed, context
switch deltas when nonzero. `threads` holds the busiest `top_threads` threads of a process that
ran in the interval, with the kernel's thread name where it differs from the process name;
`cpu_s` is CPU seconds used in the interval. `busy_threads` counts every thread of the process
that used at least BUSY_THREAD_MIN_PCT of a core, so 387 threads are not reduced to the 8 listed.
Context switches are summed over the process's live threads (Linux counts them per thread), so
a thread that exits takes its switches with it; deltas are clamped at zero. A process born during
the interval is charged its whole CPU; one first seen that is older than the previous sample is
charged nothing until its second sample. `cmd` is cut to 120 characters with secrets masked.

`observer_cpu_s` is the CPU the observer used in the interval: this sampler's own process (the
probes' threads and whatever else it runs, e.g. bench's bookkeeping) plus what
`observer_extra_cpu` counts (py-spy's dumps, which that process starts). Machine-wide CPU minus
the tree minus this is other jobs' load; 0 when the sampler's process is in the tree itself.

`usable_cores` are the root's: its affinity mask capped by the CPU quota of its own cgroup or a
parent's (probes.tree.cgroup); `cpu_quota` and `throttle` (deltas of that cgroup's nr_periods,
nr_throttled and throttled time) are there when such a quota exists. `steal_pct` is the share of
the machine's CPU time the hypervisor gave to other guests in the interval; `per_core` counts it
as busy (probes.tree.limits).

On Linux the figures are read straight from /proc: one stat read per process gives CPU times,
parent, start time (the identity check), thread count and RSS; one schedstat read per thread its
CPU time (ns) and how often it was scheduled in, and its status file (context switches, the
costly read) only when that count moved (probes.tree.procfs). A sample of a 20-process tree
takes about 1 ms, of 130 processes and 400 threads under 10 ms of CPU. The machine's process table is re-read in full
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

Over 300 lines and kept whole: one concept (one sample of one tree), the readers and the cgroup
counter already apart in probes.tree; a third of the module is this description, kept beside
the code it describes.
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
from probes.redact import redact_cmdline
from probes.tree.identity import looks_python
from probes.tree.limits import Limits
from probes.tree.procfs import (
    Switches,
    _read_linux,
    _read_psutil,
    _Reading,
    pool_libraries,
    thread_name,
)
from probes.tree.proctable import _LINUX_PROC, ProcEntry, _ProcTable, descendants
from probes.tree.unattributed import Unattributed

Sink = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)

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
    listed: tuple[int, str, str, int] | None = None  # what its last row said (probes._row)
    thread_names: dict[int, str] = field(default_factory=dict)
    switches: Switches = field(default_factory=dict)



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
        compact: bool = True,
        observer_extra_cpu: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(interval)
        # Cumulative CPU seconds of the observer's helpers (py-spy), beside its own process's.
        self.observer_extra_cpu = observer_extra_cpu
        self._last_observer: float | None = None
        self.root_pid = root_pid
        self.sink = sink
        self.interval = interval
        self.extra_pids_fn = extra_pids_fn
        self.top_threads = top_threads
        self.compact = compact  # leave out rows of idle, unchanged processes (see _row)
        self._limits = Limits(root_pid)
        self.usable_cores = self._limits.usable_cores
        self._tracked: dict[int, _Tracked] = {}
        self._table = _ProcTable()
        self._last_wall: float | None = None
        self._last_mono: float | None = None
        self._unattributed = Unattributed(root_pid)
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

    def commands(self) -> dict[int, str]:
        """Command line of every process of the tree at the last sample (rows carry it only
        when a process is first listed)."""
        with self._lock:
            return {pid: tr.cmd for pid, tr in self._tracked.items()}

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
        ctx_vol_total = ctx_invol_total = n_threads = n_procs = 0
        cpu_total = 0.0
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
            r = _read_linux(pid, tr.switches) if _LINUX_PROC else _read_psutil(tr.proc, tr.start)
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
                n_procs += 1
                cpu_total += 100.0 * d_cpu / dt
                row = self._row(pid, tr, r, d_cpu, d_vol, d_invol, thread_rows, dt)
                if row is not None:
                    rows.append(row)

        gone_cpu = self._reaped_cpu(previous, current)
        self._tracked = current
        limits = self._limits.read()
        self.usable_cores = self._limits.usable_cores
        unattributed, method = self._unattributed.account(
            grown_children - gone_cpu, attributed, set(current), table,
        )
        observer = self._observer_cpu(current)
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
        return {
            "kind": "tree",
            "t": wall,
            "root": self.root_pid,
            "interval": round(dt, 4),
            "n_procs": n_procs,
            "idle_procs": n_procs - len(rows),
            "n_threads": n_threads,
            "cpu_pct_total": round(cpu_total, 2),
            "capacity_pct": float(self.usable_cores * 100),
            "usable_cores": self.usable_cores,
            **limits,
            "load1": round(load1, 2),
            "unattributed_cpu_s": round(unattributed, 4),
            "unattributed_method": method,
            "observer_cpu_s": round(observer, 4),
            "ctx_invol_delta": ctx_invol_total,
            "ctx_vol_delta": ctx_vol_total,
            "procs": rows,
        }

    def _row(
        self, pid: int, tr: _Tracked, r: _Reading, d_cpu: float, d_vol: int, d_invol: int,
        thread_rows: list[tuple[float, int]], dt: float,
    ) -> dict[str, Any] | None:
        """The process's row, or None for a process seen before that used no CPU and changed
        nothing (counted in `idle_procs`): at hundreds of processes, idle rows are most of a
        sample. Command line and parent only when first listed or changed; threads only those
        that ran, with their names (torch, OpenMP and pool threads are told apart by them)."""
        key = (r.num_threads, r.status, tr.cmd, tr.ppid)
        if self.compact and pid != self.root_pid and d_cpu <= 0 and key == tr.listed:
            return None
        row: dict[str, Any] = {
            "pid": pid, "ppid": tr.ppid, "name": tr.name, "status": r.status,
            "cpu_pct": round(100.0 * d_cpu / dt, 2), "num_threads": r.num_threads, "rss": r.rss,
        }
        if tr.listed is None or tr.listed[2:] != key[2:]:
            row["cmd"] = tr.cmd
            if tr.is_python and _LINUX_PROC:  # once per process: which native pools it loaded
                pools = pool_libraries(pid)
                if pools:
                    row["pools"] = pools
        tr.listed = key
        if d_vol or d_invol:
            row["ctx_vol_delta"], row["ctx_invol_delta"] = d_vol, d_invol
        threads = []
        for c, tid in thread_rows[: self.top_threads]:
            if c <= 0:
                break
            t: dict[str, Any] = {"tid": tid, "cpu_s": round(c, 4), "cpu_pct": round(100.0 * c / dt, 2)}
            name = thread_name(pid, tid, tr.thread_names)
            if name and name != tr.name:
                t["name"] = name
            threads.append(t)
        if threads:
            row["threads"] = threads
        row["busy_threads"] = sum(1 for c, _ in thread_rows if 100.0 * c / dt >= BUSY_THREAD_MIN_PCT)
        row["is_root"] = pid == self.root_pid
        if r.nice:  # only where it is not the default: Ray starts its workers at nice 15
            row["nice"] = r.nice
        return row

    def _observer_cpu(self, current: dict[int, _Tracked]) -> float:
        """The observer's CPU since the previous sample (0 for the baseline, and when this
        process is in the tree: its CPU, and its py-spy children's, are the tree's already)."""
        total = time.process_time()
        if self.observer_extra_cpu is not None:
            try:
                total += self.observer_extra_cpu()
            except Exception:
                log.debug("observer_extra_cpu failed", exc_info=True)
        last, self._last_observer = self._last_observer, total
        if last is None or os.getpid() in current:
            return 0.0
        return max(0.0, total - last)

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
