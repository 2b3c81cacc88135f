"""No orphans: remember every process a run started and make sure none outlives it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time

import psutil

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants (a dead worker's children) get re-parented to us, not to init,
    so they stay findable as our children and can be cleaned up. Linux only; best effort."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class Reaper:
    """Tracks descendants of this process over a run; `kill_all` ends whatever is left."""

    def __init__(self, spare: tuple[int | None, ...] = ()) -> None:
        self._seen: dict[tuple[int, float], psutil.Process] = {}
        self._me = psutil.Process()
        self._spare = {pid for pid in spare if pid}  # the run's guardian: it outlives each label

    def poll(self) -> None:
        try:
            children = self._me.children(recursive=True)
        except psutil.Error:
            return
        for p in children:
            if p.pid in self._spare:
                continue
            with contextlib.suppress(psutil.Error):
                self._seen.setdefault((p.pid, p.create_time()), p)

    def alive(self) -> list[psutil.Process]:
        self.poll()
        out = []
        for p in self._seen.values():
            with contextlib.suppress(psutil.Error):
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
        return out

    def kill_all(self, grace: float = 3.0) -> int:
        """SIGTERM everything still alive, SIGKILL what is left after `grace`; returns how many."""
        procs = self.alive()
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGTERM)
        _, still = psutil.wait_procs(procs, timeout=grace)
        for p in still:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(still, timeout=grace)
        reap_zombies()
        return len(procs)


def reap_zombies() -> None:
    """Collect the exit status of every child that has ended (a subreaper inherits orphans), so
    none stays a zombie; at most about a second, should ended children keep coming."""
    deadline = time.time() + 1.0
    while time.time() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
