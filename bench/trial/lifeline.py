"""Processes a run starts die with the process that started them, also after a `kill -9` of it
(nothing gets to clean up then): Linux's parent-death signal where we start the process ourselves,
a thread watching the parent's pid where a library starts it (loky's workers)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading

_PR_SET_PDEATHSIG = 1
# The environment variable through which a process learns its parent's pid, set by the parent.
PARENT_ENV = "COREBENCH_PARENT_PID"
WATCH_S = 0.5
_watching: set[int] = set()


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies. Best effort (not on other
    platforms); checked once for a parent that died before the call. `parent_pid` 0: the parent
    is not the one to watch (forkserver) and dies with us on its own.

    Linux sends the signal when the parent *thread* that forked us ends, so call it only in
    processes started from a thread that lives as long as the parent (its main thread)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)


def watch_parent(parent_pid: int, interval: float = WATCH_S) -> None:
    """End this process (SIGKILL, as the parent-death signal would) within `interval` of its
    parent's death; for processes a library starts from any thread. Idempotent per process."""
    if not parent_pid or os.getpid() in _watching:
        return
    _watching.add(os.getpid())
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(interval):
            # Re-parented (to init or a subreaper): the parent is gone.
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="corebench-lifeline", daemon=True).start()


def parent_from_env() -> int:
    """The pid the parent put in PARENT_ENV (0 when none, or not a number)."""
    try:
        return int(os.environ.get(PARENT_ENV, "0"))
    except ValueError:
        return 0

