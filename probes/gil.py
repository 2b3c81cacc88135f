"""How long a Python thread waits for the GIL, measured from the kernel's side of the thread.

py-spy's `active` flag cannot tell a thread waiting for the GIL from one running native code. A
busy GIL is handed over thousands of times a second (every torch call releases and takes it back),
each wait lasts tens of microseconds, and a waiter woken for the hand-off is runnable (state R),
so an instant dump mostly shows both threads "active". Two kernel facts per thread, taken over a
short window right after each stack dump, say what the instant cannot:

- `/proc/PID/task/TID/schedstat`: nanoseconds on a CPU, nanoseconds runnable but waiting for a
  CPU, and the number of times it was switched in. What is left of the window is time asleep
  (blocked). A thread alone on its core in ordinary Python or torch code hardly sleeps; two
  threads sharing one GIL sleep a third to a half of the time and switch thousands of times a
  second.
- `/proc/PID/task/TID/syscall`, read a few dozen times in the window: a blocked thread shows the
  syscall it sleeps in and its arguments. For futex(2) the first argument is the address waited
  on. CPython keeps the GIL's mutex and condition variables inside its `_PyRuntime` structure
  (3.11: `_PyRuntime.ceval.gil`; 3.12 and later: the main interpreter, which lives inline in
  `_PyRuntime`), whose address and size are in the interpreter's ELF dynamic symbol table. A futex
  wait on an address inside it is a wait for the GIL; any other blocked syscall is not.

The window follows the dump rather than surrounding it: py-spy's own CPU would show up as the
threads queueing for a core. A thread's GIL wait is its sleep share, split by what its blocked
reads showed: all of it when they all showed the GIL's futex, none when they all showed
something else. Hand-offs are often
too short to catch in a read (the thread is awake again before the kernel can report the
syscall); sleep with no blocked read at all counts as GIL wait only when another Python thread
of the process was working at the same time (`peers`): code that is not in a blocking call and
shares the process with other running Python has little else to sleep on. A lone thread's
unexplained sleep (a C call that released the GIL and blocks) is never called GIL wait.

Linux only; where schedstat or syscall cannot be read (another OS, no permission, an unknown
CPU architecture) the window is empty or has no reads, and callers fall back to py-spy's view.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# futex(2)'s syscall number per architecture (as /proc/PID/syscall prints it).
FUTEX_SYSCALL = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}
# Syscall reads per thread in one window, and the pause between rounds of reads.
WINDOW_READS = 25
READ_SPACING_S = 0.002
_RUNTIME_SYMBOL = "_PyRuntime"


@dataclass(frozen=True)
class Schedstat:
    """Cumulative scheduler figures of one thread at one moment (ns on CPU, ns queued, switches)."""

    t_ns: int
    run_ns: int
    queue_ns: int
    slices: int


@dataclass(frozen=True)
class ThreadWait:
    """One thread over one window: shares of the window on a CPU, queued for one and asleep, its
    switch rate, and what its blocked syscall reads showed."""

    window_s: float
    run: float
    queue: float
    sleep: float
    switches_s: float
    reads: int = 0
    gil_blocked: int = 0
    other_blocked: int = 0
    peers: bool = False

    @property
    def gil_wait(self) -> float:
        """Estimated share of the window spent waiting for the GIL (rules in the module doc)."""
        blocked = self.gil_blocked + self.other_blocked
        if blocked:
            return self.sleep * self.gil_blocked / blocked
        return self.sleep if self.peers else 0.0

    def as_record(self) -> dict[str, Any]:
        return {
            "window_s": round(self.window_s, 4),
            "run": round(self.run, 3),
            "queue": round(self.queue, 3),
            "sleep": round(self.sleep, 3),
            "switches_s": round(self.switches_s),
            "reads": self.reads,
            "gil_blocked": self.gil_blocked,
            "other_blocked": self.other_blocked,
            "gil_wait": round(self.gil_wait, 3),
        }


# --- where the GIL lives ------------------------------------------------------------------------
_symbols: dict[tuple[int, int, int], tuple[int, int, int] | None] = {}
_symbols_lock = threading.Lock()


def _runtime_symbol(path: str) -> tuple[int, int, int] | None:
    """(`_PyRuntime` value, its size, the ELF's load bias base) of one file, cached by identity.

    The base is the lowest PT_LOAD address rounded down to a page: what the offset-0 mapping of
    a position-independent file is loaded against. It is -1 for a fixed-address executable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (st.st_dev, st.st_ino, st.st_mtime_ns)
    with _symbols_lock:
        if key in _symbols:
            return _symbols[key]
    found: tuple[int, int, int] | None = None
    try:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection

        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            for name in (".dynsym", ".symtab"):
                section = elf.get_section_by_name(name)
                if not isinstance(section, SymbolTableSection):
                    continue
                symbols = section.get_symbol_by_name(_RUNTIME_SYMBOL)
                if symbols:
                    sym = symbols[0]
                    if elf.header["e_type"] == "ET_DYN":
                        loads = [s["p_vaddr"] for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
                        base = min(loads) & ~0xFFF if loads else 0
                    else:
                        base = -1
                    found = (int(sym["st_value"]), int(sym["st_size"]), base)
                    break
    except (OSError, ImportError, ELFError, ValueError):
        found = None
    with _symbols_lock:
        _symbols[key] = found
    return found


def _mappings(pid: int) -> list[tuple[int, int, str]]:
    """(start, file offset, path) of the file-backed mappings of a process."""
    out = []
    try:
        with open(f"/proc/{pid}/maps") as fh:
            for line in fh:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    start = int(parts[0].split("-", 1)[0], 16)
                    out.append((start, int(parts[2], 16), parts[5].strip()))
    except (OSError, ValueError):
        return []
    return out


def runtime_range(pid: int) -> tuple[int, int] | None:
    """[start, end) of the interpreter's `_PyRuntime` in `pid`'s memory, or None (not CPython, not
    readable, no symbol). Looks in libpython first, then the executable."""
    maps = _mappings(pid)
    candidates = [p for _, _, p in maps if "libpython" in os.path.basename(p)]
    try:
        candidates.append(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        pass
    root = f"/proc/{pid}/root" if os.path.isdir(f"/proc/{pid}/root") else ""
    for path in dict.fromkeys(candidates):
        sym = _runtime_symbol(root + path)
        if sym is None:
            continue
        value, size, base = sym
        if base < 0:
            return value, value + size
        starts = [start for start, offset, p in maps if p == path and offset == 0]
        if starts:
            lo = min(starts) - base + value
            return lo, lo + size
    return None


# --- per-thread kernel figures ------------------------------------------------------------------
def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def schedstat(pid: int, tid: int) -> Schedstat | None:
    """The thread's cumulative scheduler figures now, or None where the kernel has none."""
    t = time.monotonic_ns()
    parts = _read(f"/proc/{pid}/task/{tid}/schedstat").split()
    if len(parts) < 3:
        return None
    try:
        return Schedstat(t, int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def blocked_on(text: str, gil: tuple[int, int] | None, futex_nr: int | None) -> str:
    """What one `/proc/PID/task/TID/syscall` read says: "" (unreadable), "running", "gil" or
    "other" (blocked in any other syscall, or on a futex outside the interpreter's runtime)."""
    parts = text.split()
    if not parts:
        return ""
    if parts[0] == "running":
        return "running"
    try:
        nr = int(parts[0])
    except ValueError:
        return ""
    if nr < 0:  # not in a syscall (stopped in user space): on its way to run, not asleep
        return "running"
    if gil is not None and futex_nr is not None and nr == futex_nr and len(parts) > 1:
        try:
            addr = int(parts[1], 16)
        except ValueError:
            return "other"
        if gil[0] <= addr < gil[1]:
            return "gil"
    return "other"


def measure(
    pid: int,
    working: Iterable[int],
    runtime: tuple[int, int] | None = None,
    reads: int = WINDOW_READS,
    spacing: float = READ_SPACING_S,
) -> dict[int, ThreadWait]:
    """ThreadWait per working thread (its stack showed work, not a blocking call) over a window
    of about `reads * spacing` seconds, taken right after a stack dump (py-spy's own CPU would
    otherwise show up as the threads' queueing); each counts the others as peers. Syscall reads
    are taken only when two or more threads work: a lone thread has no one to wait for the GIL
    behind. Threads in blocking calls are not read: they are idle whatever the kernel says."""
    futex_nr = FUTEX_SYSCALL.get(platform.machine().lower())
    before = {t: s for t in dict.fromkeys(working) if (s := schedstat(pid, t)) is not None}
    counts = {t: [0, 0, 0] for t in before}  # reads, gil, other
    if len(before) >= 2:
        for i in range(reads):
            for tid, c in counts.items():
                state = blocked_on(_read(f"/proc/{pid}/task/{tid}/syscall"), runtime, futex_nr)
                if not state:
                    continue
                c[0] += 1
                if state == "gil":
                    c[1] += 1
                elif state == "other":
                    c[2] += 1
            if i + 1 < reads:
                time.sleep(spacing)
    else:
        time.sleep(reads * spacing)
    out: dict[int, ThreadWait] = {}
    for tid, b in before.items():
        a = schedstat(pid, tid)
        if a is None or a.t_ns <= b.t_ns:
            continue
        span = a.t_ns - b.t_ns
        run = min(1.0, max(0.0, (a.run_ns - b.run_ns) / span))
        queue = min(1.0 - run, max(0.0, (a.queue_ns - b.queue_ns) / span))
        n, gil_n, other_n = counts[tid]
        out[tid] = ThreadWait(
            window_s=span / 1e9,
            run=run,
            queue=queue,
            sleep=max(0.0, 1.0 - run - queue),
            switches_s=max(0, a.slices - b.slices) / (span / 1e9),
            reads=n,
            gil_blocked=gil_n,
            other_blocked=other_n,
            peers=len(before) >= 2,
        )
    return out
