"""The process bookkeeping the leftover check and the Ray fixtures share: this test process's
descendants, which of them may outlive a test by design, and how to end a tree."""

from __future__ import annotations

import contextlib
import socket
import time

import psutil

from bench.run.reaper import reap_zombies

# Processes that live as long as the interpreter that started them, by design (one per process,
# not per run): multiprocessing's and loky's resource trackers, the forkserver.
INTERPRETER_HELPERS = ("resource_tracker", "forkserver")
LEFTOVER_WAIT_S = 5.0

exempt_roots: set[int] = set()  # e.g. the session's Ray head: its workers outlive each test


def descendants() -> dict[tuple[int, float], psutil.Process]:
    out = {}
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            out[(p.pid, p.create_time())] = p
    return out


def exempt(p: psutil.Process) -> bool:
    try:
        if p.status() == psutil.STATUS_ZOMBIE:
            return True
        if any(h in " ".join(p.cmdline()) for h in INTERPRETER_HELPERS):
            return True
        return any(a.pid in exempt_roots for a in p.parents()) or p.pid in exempt_roots
    except psutil.Error:
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_tree(roots: list[psutil.Process], grace: float = 10.0) -> None:
    procs = list(roots)
    for root in roots:
        with contextlib.suppress(psutil.Error):
            procs += root.children(recursive=True)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    deadline = time.time() + grace
    while time.time() < deadline and any(running(p) for p in procs):
        reap_zombies()
        time.sleep(0.1)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if running(p):
                p.kill()
    time.sleep(0.2)
    reap_zombies()


def running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
