"""Stack sampler: `py-spy dump --json --nonblocking` of the root and its Python workers, with each
Python thread classified into a state that says whether the GIL is what holds it back.

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

Samples: `{"kind": "stack", "t", "pid", "threads": [{"tid", "name", "state", "active", "owns_gil",
"frames": ["func (file:line)", … up to 5], "wait": {…} where measured (see
probes.gil.ThreadWait.as_record)}], "counts": {"gil", "native", "waiting_gil", "idle"}}`.
When py-spy is missing or not permitted to read the target (ptrace), one
`{"kind": "note", "t", "probe": "stack", "level": "warning", "message"}` is emitted and stack
sampling stops; the run goes on. A target that exits mid-dump is skipped quietly, and so is a
failure that does not repeat (a process starting up or shutting down); one that persists for
NOTE_AFTER_FAILURES dumps of a live process gets one "info" note.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from probes._sampler import Sampler
from probes.gil import ThreadWait, measure, runtime_range
from probes.tree import descendants, looks_python, scan_processes

Sink = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)

STATES = ("gil", "native", "waiting_gil", "idle")
NOTE_AFTER_FAILURES = 3
# Share of a window after the dump a working thread spent waiting for the GIL (probes.gil) that
# makes it "waiting_gil": a fifth is far above the microseconds a thread alone on its GIL waits,
# and below the third to a half that two threads sharing one GIL each wait.
WAITING_GIL_MIN_SHARE = 0.2
TOP_FRAMES = 5
PTRACE_HELP = (
    "py-spy needs ptrace permission to read another process's memory: run as root, or allow it "
    "with `sudo sysctl kernel.yama.ptrace_scope=0` (/proc/sys/kernel/yama/ptrace_scope = 0), or "
    "give the container SYS_PTRACE (docker run --cap-add SYS_PTRACE)"
)
MISSING_HELP = (
    "py-spy was not found: install it (`pip install py-spy`) in the environment that runs the "
    "probes, or run with stacks off (--no-stacks)"
)

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
_PERMISSION_MARKERS = (
    "permission denied", "operation not permitted", "eperm", "os error 1)", "os error 13",
    "ptrace", "elevated permissions",
)
_GONE_MARKERS = (
    "no such file or directory", "no such process", "os error 3)",
    "check that the process is running",
    "failed to open process", "process exited",
)
_NOT_PYTHON_MARKERS = (
    "failed to find python version", "couldn't find python binary",
    "failed to find a python interpreter",
    "failed to find python interpreter",
)


class PySpyError(Exception):
    """py-spy could not dump a process; `kind` is missing, permission, gone, not_python, timeout
    or other."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def find_py_spy() -> str | None:
    """The py-spy executable: next to this interpreter first (a pyenv shim costs ~0.1 s a call)."""
    for d in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        exe = d / "py-spy"
        if exe.is_file() and os.access(exe, os.X_OK):
            return str(exe)
    return shutil.which("py-spy")


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def classify_error(stderr: str) -> str:
    """permission / gone / not_python / other, from py-spy's error text."""
    low = stderr.lower()
    if any(m in low for m in _PERMISSION_MARKERS):
        return "permission"
    if any(m in low for m in _NOT_PYTHON_MARKERS):
        return "not_python"
    if any(m in low for m in _GONE_MARKERS):
        return "gone"
    return "other"


def _first_error_line(stderr: str) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line and not line.startswith(("Stack backtrace", "Caused by")):
            return line.removeprefix("Error: ")
    return "py-spy failed without a message"


def dump(
    pid: int,
    py_spy: str | None = None,
    timeout: float = 5.0,
    on_start: Callable[[subprocess.Popen[bytes] | None], None] | None = None,
) -> list[dict[str, Any]]:
    """py-spy's JSON stack dump of one process (one dict per Python thread); raises PySpyError."""
    exe = py_spy or find_py_spy()
    if exe is None:
        raise PySpyError("missing", MISSING_HELP)
    env = {**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"}
    try:
        proc = subprocess.Popen(
            [exe, "dump", "--json", "--nonblocking", "--pid", str(pid)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
        )
    except FileNotFoundError:
        raise PySpyError("missing", MISSING_HELP) from None
    except PermissionError as exc:
        raise PySpyError("permission", f"cannot run {exe}: {exc}") from None
    if on_start is not None:
        on_start(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise PySpyError("timeout", f"py-spy dump of pid {pid} took over {timeout:g} s") from None
    finally:
        if on_start is not None:
            on_start(None)
    stderr = err.decode(errors="replace")
    if proc.returncode != 0:
        # A target that is gone explains any error (and must never switch stacks off)
        gone = proc.returncode < 0 or not _alive(pid)  # < 0: killed by stop()
        raise PySpyError("gone" if gone else classify_error(stderr), _first_error_line(stderr))
    try:
        traces = json.loads(out)
    except json.JSONDecodeError:
        kind = "gone" if not _alive(pid) else "other"
        raise PySpyError(kind, f"py-spy printed no JSON for pid {pid}") from None
    if not isinstance(traces, list):
        raise PySpyError("other", f"unexpected py-spy output for pid {pid}")
    return traces


def _top_line(frame: dict[str, Any]) -> str:
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


def _source_line(frame: dict[str, Any], root: str, cwd: str = "") -> str:
    filename, line = frame.get("filename"), frame.get("line")
    if not filename or not isinstance(line, int) or line <= 0 or filename.startswith("<"):
        return ""
    path = root + filename if os.path.isabs(filename) else os.path.join(cwd, filename)
    return _SOURCES.line(path, line)


def source_reader(pid: int) -> Callable[[dict[str, Any]], str]:
    """Reads a frame's source line as the target sees its files: through /proc/<pid>/root and
    /proc/<pid>/cwd on Linux (right inside containers and for relative paths), else directly."""
    root, cwd = f"/proc/{pid}/root", f"/proc/{pid}/cwd"
    if not os.path.isdir(root):
        root, cwd = "", ""

    def read(frame: dict[str, Any]) -> str:
        return _source_line(frame, root, cwd)

    return read


def is_blocking_frame(
    frame: dict[str, Any], source_line: Callable[[dict[str, Any]], str] = _top_line
) -> bool:
    """True when a (top) frame is a wait: a blocking function, or a line that calls one in C."""
    name = str(frame.get("name") or "").rsplit(".", 1)[-1]
    if name in IDLE_FUNCTIONS:
        return True
    line = source_line(frame)
    return bool(line) and _BLOCKING_LINE.search(line) is not None


def classify_thread(
    thread: dict[str, Any],
    *,
    single_thread: bool = False,
    source_line: Callable[[dict[str, Any]], str] = _top_line,
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
    thread: dict[str, Any], source_line: Callable[[dict[str, Any]], str] = _top_line
) -> bool:
    """A thread with Python frames that is not sitting in a blocking call (rules 1 and 3)."""
    frames = thread.get("frames") or []
    if not frames:
        return False
    return bool(thread.get("owns_gil")) or not is_blocking_frame(frames[0], source_line)


def thread_id(thread: dict[str, Any]) -> int:
    """The kernel tid of a py-spy thread record (py-spy's pthread id where it has none)."""
    return int(thread.get("os_thread_id") or thread.get("thread_id") or 0)


def format_frame(frame: dict[str, Any]) -> str:
    filename = frame.get("short_filename") or os.path.basename(str(frame.get("filename") or "?"))
    return f"{frame.get('name', '?')} ({filename}:{frame.get('line', '?')})"


def stack_sample(
    pid: int,
    traces: Sequence[dict[str, Any]],
    t: float,
    source_line: Callable[[dict[str, Any]], str] = _top_line,
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


def python_pids(root_pid: int) -> list[int]:
    """The root and its descendants that run Python (by name or command line), root first."""
    table = scan_processes()
    out: list[int] = []
    for pid in descendants(table, [root_pid]):
        if pid == root_pid:
            out.insert(0, pid)
            continue
        try:
            cmdline = psutil.Process(pid).cmdline()
        except psutil.Error:
            continue
        if looks_python(table[pid].name, cmdline):
            out.append(pid)
    return out


class StackSampler(Sampler):
    """Dumps the stacks of the root and its Python workers every `interval` s in a daemon thread
    (start/stop/`with`: probes._sampler); the first round runs at once, a slow one is followed at
    once by the next."""

    name = "probe-stacks"
    first_after_period = False
    catch_up = True

    def __init__(
        self,
        root_pid: int,
        sink: Sink,
        interval: float = 2.0,
        pids_fn: Callable[[], list[int]] | None = None,
        max_pids: int = 8,
        py_spy: str | None = None,
        dump_timeout: float = 5.0,
        waits: bool = True,
    ) -> None:
        super().__init__(interval)
        self.root_pid = root_pid
        self.waits = waits  # the kernel's view of each thread right after a dump (probes.gil)
        self._runtimes: dict[int, tuple[int, int] | None] = {}
        self.sink = sink
        self.interval = interval
        self.pids_fn = pids_fn
        self.max_pids = max_pids
        self.py_spy = py_spy
        self.dump_timeout = dump_timeout
        self.disabled: str | None = None  # why stack sampling stopped, when it did
        self._skip: set[int] = set()  # not Python
        self._noted: set[tuple[int, str]] = set()
        self._failures: dict[int, int] = {}  # consecutive unexplained failures per pid
        self._popen: subprocess.Popen[bytes] | None = None
        self._popen_lock = threading.Lock()

    # life cycle (probes._sampler) -------------------------------------------------------
    def _before_start(self) -> None:
        if self.py_spy is None:
            self.py_spy = find_py_spy()

    def _on_request_stop(self) -> None:
        """Kill an in-flight py-spy, so stop() returns at once."""
        with self._popen_lock:
            if self._popen is not None and self._popen.poll() is None:
                try:
                    self._popen.kill()
                except OSError:
                    pass

    def _set_popen(self, proc: subprocess.Popen[bytes] | None) -> None:
        with self._popen_lock:
            self._popen = proc
            if proc is not None and self.stopping:
                proc.kill()

    def _targets(self) -> list[int]:
        try:
            pids = self.pids_fn() if self.pids_fn is not None else python_pids(self.root_pid)
        except Exception:
            log.debug("pids_fn failed", exc_info=True)
            pids = [self.root_pid]
        out: list[int] = []
        for pid in pids:
            if pid not in self._skip and pid not in out:
                out.append(pid)
        return out[: self.max_pids]

    def _emit(self, record: dict[str, Any]) -> None:
        try:
            self.sink(record)
        except Exception:
            self.errors += 1
            log.warning("stack sink failed", exc_info=self.errors == 1)

    def _note(self, message: str, level: str = "warning") -> None:
        self._emit({"kind": "note", "t": time.time(), "probe": "stack", "level": level,
                    "message": message})

    def sample_pid(self, pid: int) -> dict[str, Any] | None:
        """One stack sample of `pid`, or None (process gone, not Python, or sampling disabled)."""
        if self.disabled is not None:
            return None
        t = time.time()
        try:
            traces = dump(pid, self.py_spy, self.dump_timeout, on_start=self._set_popen)
        except PySpyError as exc:
            self._failed(pid, exc)
            return None
        self._failures.pop(pid, None)
        source = source_reader(pid)
        waits = None
        working = [thread_id(tr) for tr in traces if is_working(tr, source)]
        # The kernel's view matters only where two threads could contend for the GIL; a process
        # with one working thread (a pool worker) costs no window.
        if self.waits and len(working) >= 2 and not self.stopping:
            waits = measure(pid, working, self._runtime(pid))
        return stack_sample(pid, traces, t, source, waits)

    def _runtime(self, pid: int) -> tuple[int, int] | None:
        if pid not in self._runtimes:
            if len(self._runtimes) > 4 * self.max_pids:  # workers come and go: keep it bounded
                self._runtimes.clear()
            self._runtimes[pid] = runtime_range(pid)
        return self._runtimes[pid]

    def _failed(self, pid: int, exc: PySpyError) -> None:
        if self.stopping or exc.kind == "gone":
            return
        if exc.kind == "permission":
            self.disabled = f"{PTRACE_HELP} (py-spy said: {exc})"
            self._note(f"stack sampling off: {self.disabled}")
        elif exc.kind == "missing":
            self.disabled = str(exc)
            self._note(f"stack sampling off: {exc}")
        elif exc.kind == "not_python":
            self._skip.add(pid)
        else:
            # A process starting up or shutting down fails a dump now and then ("Failed to get
            # stack traces"); only a failure that persists while it lives is worth a note.
            n = self._failures[pid] = self._failures.get(pid, 0) + 1
            if n >= NOTE_AFTER_FAILURES and _alive(pid) and (pid, exc.kind) not in self._noted:
                self._noted.add((pid, exc.kind))
                self.errors += 1
                self._note(f"py-spy could not read pid {pid} ({n} tries): {exc}", level="info")

    def tick(self) -> bool:
        """One round: a dump of each target; False once sampling is disabled."""
        for pid in self._targets():
            if self.stopping or self.disabled is not None:
                break
            try:
                sample = self.sample_pid(pid)
            except Exception:  # never let a probe take the run down
                self.errors += 1
                log.warning("stack sample failed", exc_info=self.errors == 1)
                continue
            if sample is not None and not self.stopping:
                self._emit(sample)
        return self.disabled is None
