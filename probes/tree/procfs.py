"""Per-process figures read from /proc/<pid>/{stat,status,task/*} (psutil on other platforms),
and per-core busy shares from cumulative CPU times."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple

import psutil

from probes.tree.proctable import _LINUX_PROC, _read_stat

_CLK_TCK = os.sysconf("SC_CLK_TCK") if _LINUX_PROC else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if _LINUX_PROC else 4096
_STATUS = {
    "R": "running", "S": "sleeping", "D": "disk-sleep", "Z": "zombie", "T": "stopped",
    "t": "tracing-stop", "X": "dead", "x": "dead", "I": "idle", "K": "wake-kill", "W": "waking",
    "P": "parked",
}



@dataclass
class _Reading:
    start: float
    ppid: int
    cpu_s: float
    children_s: float
    status: str
    num_threads: int
    rss: int
    ctx_vol: int
    ctx_invol: int
    threads: list[tuple[int, float]]
    nice: int = 0  # the process's (its main thread's) niceness


def _status_counter(data: bytes, key: bytes) -> int:
    """The number after `key` (which starts with its line's newline) in a /proc status file."""
    at = data.find(key)
    if at < 0:
        return 0
    start = at + len(key)
    # The line's end is searched after the key: the key's own leading newline is not its end.
    end = data.find(b"\n", start)
    try:
        return int(data[start : end if end >= 0 else None])
    except ValueError:
        return 0


def _read_file(path: str) -> bytes | None:
    """A small /proc file in one read (no buffered file object: at hundreds of threads a
    sample is mostly these calls)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 16384)
    except OSError:
        return None
    finally:
        os.close(fd)


def _ctx_switches(path: str) -> tuple[int, int]:
    data = _read_file(path)
    if data is None:
        return 0, 0
    return (
        _status_counter(data, b"\nvoluntary_ctxt_switches:"),
        _status_counter(data, b"\nnonvoluntary_ctxt_switches:"),
    )


# tid -> (times scheduled in, voluntary, involuntary switches) at the last read: a thread whose
# count has not moved has made no switch, and its (costly) status file is not read again.
Switches = dict[int, tuple[int, int, int]]


def _schedstat(path: str) -> tuple[int, int] | None:
    """(run time in ns, times scheduled in) from a schedstat file; None where there is none."""
    data = _read_file(path)
    if not data:
        return None
    parts = data.split()
    try:
        return int(parts[0]), int(parts[2])
    except (IndexError, ValueError):
        return None


def _thread(base: str, tid: int, known: Switches, seen: Switches) -> tuple[int, int, float | None]:
    """(voluntary, involuntary switches, CPU seconds or None) of one thread at /proc/`base`."""
    sched = _schedstat(f"/proc/{base}/schedstat")
    old = known.get(tid)
    if sched is not None and old is not None and old[0] == sched[1]:
        vol, invol = old[1], old[2]
    else:
        vol, invol = _ctx_switches(f"/proc/{base}/status")
    seen[tid] = (sched[1] if sched is not None else -1, vol, invol)
    return vol, invol, None if sched is None else sched[0] / 1e9


def _read_linux(pid: int, switches: Switches | None = None) -> _Reading | None:
    """All per-process figures from /proc/<pid>/stat and each thread's schedstat and status
    (None: gone). `switches` is the process's per-thread counter cache, updated in place."""
    stat = _read_stat(pid)
    if stat is None:
        return None
    f = stat[1]
    tick = float(_CLK_TCK)
    utime, stime = int(f[11]) / tick, int(f[12]) / tick
    nthreads = int(f[17])
    known = switches if switches is not None else {}
    seen: Switches = {}
    threads: list[tuple[int, float]]
    if nthreads <= 1:
        vol, invol, _ = _thread(str(pid), pid, known, seen)
        threads = [(pid, utime + stime)]
    else:
        # /proc/<pid>/status counts the main thread's switches only: sum every thread's.
        threads, vol, invol = [], 0, 0
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            tids = []
        for name in tids:
            tid = int(name)
            v, i, cpu = _thread(f"{pid}/task/{name}", tid, known, seen)
            if cpu is None:  # no schedstat (kernel without CONFIG_SCHED_INFO): the tick counts
                t = _read_stat(f"{pid}/task/{name}")
                if t is None:
                    continue
                cpu = (int(t[1][11]) + int(t[1][12])) / tick
            threads.append((tid, cpu))
            vol, invol = vol + v, invol + i
    if switches is not None:
        switches.clear()
        switches.update(seen)
    return _Reading(
        start=float(f[19]), ppid=int(f[1]), cpu_s=utime + stime,
        children_s=(int(f[13]) + int(f[14])) / tick,
        status=_STATUS.get(f[0].decode(), "?"), num_threads=nthreads, rss=int(f[21]) * _PAGE,
        ctx_vol=vol, ctx_invol=invol, threads=threads, nice=int(f[16]),
    )


def _read_psutil(proc: psutil.Process, start: float) -> _Reading | None:
    """The same figures through psutil (platforms without /proc); None when the process is gone."""
    cpu_s = children_s = 0.0
    status, nthreads, rss, vol, invol, ppid, nice = "?", 0, 0, 0, 0, 0, 0
    threads: list[tuple[int, float]] = []
    try:
        with proc.oneshot():
            try:
                ct = proc.cpu_times()
                cpu_s = ct.user + ct.system
                children_s = ct.children_user + ct.children_system
                status = proc.status()
                ppid = proc.ppid()
                nice = int(proc.nice())
            except psutil.ZombieProcess:
                status = psutil.STATUS_ZOMBIE
            except psutil.AccessDenied:
                pass
            try:
                nthreads = proc.num_threads()
                ctx = proc.num_ctx_switches()
                vol, invol = ctx.voluntary, ctx.involuntary
                rss = proc.memory_info().rss
                threads = [(t.id, t.user_time + t.system_time) for t in proc.threads()]
            except (psutil.ZombieProcess, psutil.AccessDenied):
                pass
    except psutil.NoSuchProcess:
        return None
    return _Reading(start, ppid, cpu_s, children_s, status, nthreads, rss, vol, invol, threads, nice)


def _busy_pct(a: Any, b: Any) -> float:
    def split(t: Any) -> tuple[float, float]:
        total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        idle = t.idle + getattr(t, "iowait", 0.0)
        return total, total - idle

    total_a, busy_a = split(a)
    total_b, busy_b = split(b)
    d_total = total_b - total_a
    if d_total <= 0:
        return 0.0
    return round(min(100.0, max(0.0, 100.0 * (busy_b - busy_a) / d_total)), 1)


class CpuTimes(NamedTuple):
    """One cpu line of /proc/stat in seconds (the fields psutil.cpu_times() has on Linux)."""

    user: float
    nice: float
    system: float
    idle: float
    iowait: float = 0.0
    irq: float = 0.0
    softirq: float = 0.0
    steal: float = 0.0
    guest: float = 0.0
    guest_nice: float = 0.0


def parse_proc_stat(text: str, tick: float = float(_CLK_TCK)) -> tuple[CpuTimes, list[CpuTimes]]:
    """The machine's total and per-CPU times from the text of /proc/stat."""
    total: CpuTimes | None = None
    per_cpu: list[CpuTimes] = []
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        name, *fields = line.split()
        times = CpuTimes(*(int(x) / tick for x in fields[:10]))
        if name == "cpu":
            total = times
        else:
            per_cpu.append(times)
    if total is None:
        raise ValueError("no cpu line in /proc/stat")
    return total, per_cpu


def read_cpu_times() -> tuple[Any, list[Any]]:
    """The machine's total and per-CPU times now: /proc/stat on Linux, psutil elsewhere."""
    if _LINUX_PROC:
        try:
            with open("/proc/stat") as fh:
                return parse_proc_stat(fh.read())
        except (OSError, ValueError):
            pass
    return psutil.cpu_times(), psutil.cpu_times(percpu=True)


def steal_pct(a: Any, b: Any) -> float:
    """Share of the CPU time between two readings that the hypervisor gave to other guests (%)."""
    def total(t: Any) -> float:
        return float(sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0))

    d_total = total(b) - total(a)
    if d_total <= 0:
        return 0.0
    stolen = getattr(b, "steal", 0.0) - getattr(a, "steal", 0.0)
    return round(min(100.0, max(0.0, 100.0 * stolen / d_total)), 2)


def thread_name(pid: int, tid: int, cache: dict[int, str]) -> str:
    """A thread's name (/proc/<pid>/task/<tid>/comm: pthread_setname_np, Python's thread names
    on 3.x, torch and OpenMP workers), read once per thread and kept in `cache`."""
    name = cache.get(tid)
    if name is None:
        if len(cache) > 4096:  # threads come and go in long jobs: keep it bounded
            cache.clear()
        name = ""
        if _LINUX_PROC:
            try:
                with open(f"/proc/{pid}/task/{tid}/comm", "rb") as fh:
                    name = fh.read().decode(errors="replace").strip()
            except OSError:
                pass
        cache[tid] = name
    return name


# Native libraries that run thread pools of their own, by the start of their file name.
POOL_LIBRARIES = {
    "libgomp": "OpenMP (GNU)", "libiomp5": "OpenMP (Intel)", "libomp": "OpenMP (LLVM)",
    "libopenblas": "OpenBLAS", "libmkl_rt": "MKL", "libmkl_core": "MKL", "libblis": "BLIS",
    "libtbb": "TBB", "libtorch_cpu": "PyTorch intra-op",
}


def pool_libraries(pid: int) -> list[str]:
    """Thread-pool libraries process `pid` has mapped (/proc/<pid>/maps), as threadpoolctl would
    name them from inside; [] when unreadable."""
    data = _read_maps(pid)
    found: dict[str, None] = {}
    for line in data.splitlines():
        slash = line.rfind(b"/")
        if slash < 0:
            continue
        base = line[slash + 1 :].decode(errors="replace")
        for prefix, name in POOL_LIBRARIES.items():
            if base.startswith(prefix):
                found[name] = None
    return list(found)


def _read_maps(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/maps", "rb") as fh:
            return fh.read()
    except OSError:
        return b""
