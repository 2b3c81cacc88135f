"""Thread states from a py-spy dump: each Python thread classified into a state that says whether
the GIL is what holds it back.


What py-spy 0.4.3 gives per thread (JSON): `thread_id` (pthread id), `os_thread_id` (the kernel tid,
the `tid` of tree samples), `thread_name`, `active` (on Linux: the kernel reports the thread
runnable, state R, i.e. on a CPU or waiting for one), `owns_gil` (the thread the interpreter records
as the current GIL holder) and `frames`, innermost first, Python frames only: a C call such as
`time.sleep` or `SimpleQueue.get` does not appear; its Python caller is the top frame, at the line
that makes the call.

Classification, first rule that matches:

1. no Python frames                                                      -> "idle"
2. `owns_gil`                                                            -> "gil"
3. the top frame is a blocking primitive (function named wait, sleep, select, poll, acquire,
   get, recv*, accept, join, read*, waitpid, …) or its current source line calls one
   (`time.sleep(`, `lock.acquire(`, `q.get()`, `sock.recv(`, `os.read(`, …)           -> "idle"
4. the kernel's view of the thread over a window right after the dump (probes.gil) says it spent at
   least WAITING_GIL_MIN_SHARE of it waiting for the GIL                            -> "waiting_gil"
5. `active` (running without the GIL: inside a native kernel, e.g. a torch op)   -> "native"
6. the kernel's view exists (and said no to 4): blocked in native code, not the GIL -> "native"
7. not active, ordinary Python code, and the only working Python thread of the process (the
   others, if any, sit in blocking calls): nobody holds the GIL for long, so it is blocked
   inside native code that released it                                            -> "native"
8. not active, ordinary Python code, other working Python threads exist           -> "waiting_gil"

Rule 4 is what makes a busy GIL visible: py-spy's `active` is true for most GIL waiters (a
hand-off wakes the waiter, runnable, many thousand times a second), so without the kernel's
figures a GIL-bound torch loop reads as "native". Rules 7 and 8 are the fallback where those
figures cannot be read (not Linux, no permission). The kernel's view is taken only for processes
with two or more working threads: a lone worker cannot wait for its own GIL.

Source lines are read through /proc/<pid>/root (and /proc/<pid>/cwd for relative paths), so they
are the target's files even when it runs in another container.

Limits: one dump is an instant, and with --nonblocking (the target is not paused) `owns_gil` and
`active` may disagree with the frames by a few microseconds; states are meant to be counted over
many samples. A thread blocked in an unrecognised C call (a database driver, a custom extension)
while other threads run counts as "waiting_gil". Where source lines cannot be read only the
function names are used.
Threads that never ran Python code (OpenMP / MKL pools, Ray's C++ threads) are not seen here;
the tree sampler counts them.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from probes.gil import ThreadWait
from probes.pyspy import Frame, Thread

STATES = ("gil", "native", "waiting_gil", "idle")
# Share of a window after the dump a working thread spent waiting for the GIL (probes.gil) that
# makes it "waiting_gil": a fifth is far above the microseconds a thread alone on its GIL waits,
# and below the third to a half that two threads sharing one GIL each wait.
WAITING_GIL_MIN_SHARE = 0.2
TOP_FRAMES = 5

# Functions (last part of the qualified name) that block: the thread waits, it is not working.
IDLE_FUNCTIONS = frozenset({
    "wait", "wait_for", "_wait_for_tstate_lock", "sleep", "select", "poll", "epoll", "kqueue",
    "acquire", "get", "recv", "recv_into", "recvfrom", "recv_bytes", "_recv_bytes", "_recv",
    "accept", "join", "read", "readline", "readinto", "_readinto", "waitpid", "_try_wait",
    "communicate", "_communicate", "input", "getch", "serve_forever", "_worker_wait",
})
# A call in the top frame's current line that blocks in C (not visible as a frame of its own).
_BLOCKING_LINE = re.compile(
    r"\b(sleep|select|poll|acquire|recv\w*|accept|waitpid|wait3|wait4|readline|readinto"
    r"|sigwait\w*|pause|input)\s*\("
    r"|\.(wait|read)\s*\("
    r"|\.get\(\s*(\)|block|timeout|True|False)"
    r"|\biter\(\s*[\w.]+\.(get|recv\w*|read\w*)\s*,"  # for x in iter(queue.get, None)
)


def _top_line(frame: Frame) -> str:
    return _source_line(frame, "")


class _SourceCache:
    """Source lines by file identity (device, inode, mtime), so the same file seen through many
    workers' /proc/<pid>/root is read and kept once; bounded, oldest files dropped first."""

    MAX_FILES = 256
    MAX_BYTES = 4 * 2**20

    def __init__(self) -> None:
        self._files: dict[tuple[int, int, int], list[str]] = {}
        self._lock = threading.Lock()

    def line(self, path: str, lineno: int) -> str:
        try:
            st = os.stat(path)
        except OSError:
            return ""
        key = (st.st_dev, st.st_ino, st.st_mtime_ns)
        with self._lock:
            lines = self._files.get(key)
        if lines is None:
            if st.st_size > self.MAX_BYTES:
                return ""
            try:
                with open(path, "rb") as fh:
                    lines = fh.read().decode("utf-8", errors="replace").splitlines()
            except OSError:
                return ""
            with self._lock:
                if len(self._files) >= self.MAX_FILES:
                    self._files.pop(next(iter(self._files)))
                self._files[key] = lines
        return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


_SOURCES = _SourceCache()


def _source_line(frame: Frame, root: str, cwd: str = "") -> str:
    filename, line = frame.get("filename"), frame.get("line")
    if not filename or not isinstance(line, int) or line <= 0 or filename.startswith("<"):
        return ""
    path = root + filename if os.path.isabs(filename) else os.path.join(cwd, filename)
    return _SOURCES.line(path, line)


def source_reader(pid: int) -> Callable[[Frame], str]:
    """Reads a frame's source line as the target sees its files: through /proc/<pid>/root and
    /proc/<pid>/cwd on Linux (right inside containers and for relative paths), else directly."""
    root, cwd = f"/proc/{pid}/root", f"/proc/{pid}/cwd"
    if not os.path.isdir(root):
        root, cwd = "", ""

    def read(frame: Frame) -> str:
        return _source_line(frame, root, cwd)

    return read


def is_blocking_frame(
    frame: Frame, source_line: Callable[[Frame], str] = _top_line
) -> bool:
    """True when a (top) frame is a wait: a blocking function, or a line that calls one in C."""
    name = str(frame.get("name") or "").rsplit(".", 1)[-1]
    if name in IDLE_FUNCTIONS:
        return True
    line = source_line(frame)
    return bool(line) and _BLOCKING_LINE.search(line) is not None


def classify_thread(
    thread: Thread,
    *,
    single_thread: bool = False,
    source_line: Callable[[Frame], str] = _top_line,
    wait: ThreadWait | None = None,
) -> str:
    """State of one py-spy thread record: "gil", "native", "waiting_gil" or "idle" (rules above);
    `wait` is the kernel's view of the thread right after the dump, where it was measured."""
    if not is_working(thread, source_line):
        return "idle"
    if thread.get("owns_gil"):
        return "gil"
    if wait is not None and wait.gil_wait >= WAITING_GIL_MIN_SHARE:
        return "waiting_gil"
    if thread.get("active") or wait is not None:
        return "native"
    return "native" if single_thread else "waiting_gil"


def is_working(
    thread: Thread, source_line: Callable[[Frame], str] = _top_line
) -> bool:
    """A thread with Python frames that is not sitting in a blocking call (rules 1 and 3)."""
    frames = thread.get("frames") or []
    if not frames:
        return False
    return bool(thread.get("owns_gil")) or not is_blocking_frame(frames[0], source_line)


def thread_id(thread: Thread) -> int:
    """The kernel tid of a py-spy thread record (py-spy's pthread id where it has none)."""
    return int(thread.get("os_thread_id") or thread.get("thread_id") or 0)


def format_frame(frame: Frame) -> str:
    filename = frame.get("short_filename") or os.path.basename(str(frame.get("filename") or "?"))
    return f"{frame.get('name', '?')} ({filename}:{frame.get('line', '?')})"


def stack_sample(
    pid: int,
    traces: Sequence[Thread],
    t: float,
    source_line: Callable[[Frame], str] = _top_line,
    waits: dict[int, ThreadWait] | None = None,
) -> dict[str, Any]:
    """A "stack" sample from one py-spy dump (and the kernel's view of its threads, if taken)."""
    # Fewer than two working threads: nobody holds the GIL for long enough to be waited on.
    single = sum(is_working(tr, source_line) for tr in traces) < 2
    counts = dict.fromkeys(STATES, 0)
    threads = []
    for tr in traces:
        wait = (waits or {}).get(thread_id(tr))
        state = classify_thread(tr, single_thread=single, source_line=source_line, wait=wait)
        counts[state] += 1
        record: dict[str, Any] = {
            "tid": tr.get("os_thread_id") or tr.get("thread_id"),
            "name": tr.get("thread_name") or "",
            "state": state,
            "active": bool(tr.get("active")),
            "owns_gil": bool(tr.get("owns_gil")),
            "frames": [format_frame(f) for f in (tr.get("frames") or [])[:TOP_FRAMES]],
        }
        if wait is not None:
            record["wait"] = wait.as_record()
        threads.append(record)
    return {"kind": "stack", "t": t, "pid": pid, "threads": threads, "counts": counts}
