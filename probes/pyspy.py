"""One `py-spy dump --json --nonblocking` of one process: where py-spy is, what its errors mean
(no permission, the target gone, not Python), and a dump bounded in time that dies with whoever
started it and says what CPU it cost (the probes' own load is not other jobs' load).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict, cast

import psutil


class Frame(TypedDict, total=False):
    """One Python frame of a py-spy 0.4 JSON dump (innermost first)."""

    name: str
    filename: str
    short_filename: str
    module: str | None
    line: int


class Thread(TypedDict, total=False):
    """One Python thread of a py-spy 0.4 JSON dump; readers use `.get`, older py-spy lacks some."""

    thread_id: int
    os_thread_id: int | None
    thread_name: str | None
    active: bool
    owns_gil: bool
    frames: list[Frame]

PTRACE_HELP = (
    "py-spy needs ptrace permission to read another process's memory: run as root, or allow it "
    "with `sudo sysctl kernel.yama.ptrace_scope=0` (/proc/sys/kernel/yama/ptrace_scope = 0), or "
    "give the container SYS_PTRACE (docker run --cap-add SYS_PTRACE)"
)
MISSING_HELP = (
    "py-spy was not found: install it (`pip install py-spy`) in the environment that runs the "
    "probes, or run with stacks off (--no-stacks)"
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


def alive(pid: int) -> bool:
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


# A dump's py-spy gets the parent-death signal (util-linux's setpriv sets it, then execs py-spy;
# no preexec_fn, which is unsafe in a threaded process): if whoever started it is killed -9, it
# does not outlive it. Linux sends it when the starting *thread* ends; `dump` waits for py-spy
# in that thread. Without setpriv the dump is still bounded by py-spy itself.
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
_DIE_WITH_CALLER: tuple[str, ...] = (_SETPRIV, "--pdeathsig", "KILL", "--") if _SETPRIV else ()


def dump(
    pid: int,
    py_spy: str | None = None,
    timeout: float = 5.0,
    on_start: Callable[[subprocess.Popen[bytes] | None], None] | None = None,
    on_cpu: Callable[[float], None] | None = None,
) -> list[Thread]:
    """py-spy's JSON stack dump of one process (one dict per Python thread); raises PySpyError.
    `on_cpu` gets the CPU seconds py-spy used, whatever the outcome, once it has ended."""
    exe = py_spy or find_py_spy()
    if exe is None:
        raise PySpyError("missing", MISSING_HELP)
    found = shutil.which(exe)
    if found is None:  # not there, or not executable: Popen's own errors, before any wrapper
        if os.path.exists(exe):
            raise PySpyError("permission", f"cannot run {exe}: not executable")
        raise PySpyError("missing", MISSING_HELP)
    env = {**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"}
    try:
        proc = subprocess.Popen(
            [*_DIE_WITH_CALLER, found, "dump", "--json", "--nonblocking", "--pid", str(pid)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
        )
    except FileNotFoundError:
        raise PySpyError("missing", MISSING_HELP) from None
    except PermissionError as exc:
        raise PySpyError("permission", f"cannot run {exe}: {exc}") from None
    if on_start is not None:
        on_start(proc)
    try:
        out, err = _communicate(proc, timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        raise PySpyError("timeout", f"py-spy dump of pid {pid} took over {timeout:g} s") from None
    finally:
        if on_start is not None:
            on_start(None)
        cpu = _reap(proc)
        if on_cpu is not None and cpu is not None:
            on_cpu(cpu)
    stderr = err.decode(errors="replace")
    if proc.returncode != 0:
        # A target that is gone explains any error (and must never switch stacks off)
        gone = proc.returncode < 0 or not alive(pid)  # < 0: killed by stop()
        raise PySpyError("gone" if gone else classify_error(stderr), _first_error_line(stderr))
    try:
        traces = json.loads(out)
    except json.JSONDecodeError:
        kind = "gone" if not alive(pid) else "other"
        raise PySpyError(kind, f"py-spy printed no JSON for pid {pid}") from None
    if not isinstance(traces, list) or not all(isinstance(t, dict) for t in traces):
        raise PySpyError("other", f"unexpected py-spy output for pid {pid}")
    return cast(list[Thread], traces)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a dump's py-spy without reaping it: Popen.kill polls first, and a py-spy that has
    just exited would be collected there, its resource usage (its CPU) lost before `_reap`. Only
    `_reap` collects it, so until then its pid cannot be reused."""
    if proc.returncode is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _communicate(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """Popen.communicate without its wait: py-spy's output up to the end of both pipes, which
    `_reap` then collects with its resource usage (Popen's own wait throws that away)."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            for key, _ in sel.select(left):
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
    return b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])


def _reap(proc: subprocess.Popen[bytes], wait_s: float = 2.0) -> float | None:
    """Wait for py-spy (its pipes are closed, or it was killed) and return the CPU seconds it
    used; None when another waiter collected it first (Popen.poll from a stop, a subreaper's
    sweep). Sets the Popen's returncode either way."""
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()
    deadline = time.monotonic() + wait_s
    while proc.returncode is None:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            proc.poll()  # collected elsewhere: Popen records what it can
            return None
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:  # alive with its pipes closed: stop it
            kill(proc)
            deadline = time.monotonic() + wait_s
        time.sleep(0.002)
    return None
