"""Start a target script for a probe test and make sure nothing of it outlives the test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

SCRIPTS = Path(__file__).resolve().parent
READY_TIMEOUT_S = 180.0  # returns at the target's "ready": long only on a loaded machine


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill_tree(root: subprocess.Popen[str], known: set[int]) -> None:
    """Stop the whole tree first (a stopped process cannot start another, as Ray's raylet does
    while its workers die), then kill everything stopped."""
    procs: dict[int, psutil.Process] = {}
    for pid in known:
        with contextlib.suppress(psutil.Error):
            procs.setdefault(pid, psutil.Process(pid))
    for _ in range(3):
        fresh = [p for p in _tree(root.pid) if p.pid not in procs]
        for p in fresh:
            procs[p.pid] = p
        for p in procs.values():
            with contextlib.suppress(psutil.Error):
                p.suspend()
        if not fresh:
            break
    for p in procs.values():
        with contextlib.suppress(psutil.Error):
            p.kill()
    root.kill()
    root.wait(10)
    psutil.wait_procs(list(procs.values()), timeout=10)


def leftovers(pids: set[int], since: float) -> list[int]:
    """pids of the set still alive and started by the test (not reused by someone else)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            if p.create_time() >= since - 1 and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return alive


@contextlib.contextmanager
def target(
    script: str, *args: str, stdin: bool = False, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Run tests/scripts/<script> until it prints "ready"; kill it and all its descendants after.
    `stdin`: give it a pipe to read from (`proc.stdin`); `env`: added to the environment.

    Asserts on exit that no process of the tree is left (pids seen while it ran included).
    """
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / script), *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        stdin=subprocess.PIPE if stdin else None,
        env={**os.environ, **env} if env else None,
    )
    seen: set[int] = {proc.pid}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.strip() == "ready" or not line:
                break
        assert line.strip() == "ready", f"{script} did not start (exit {proc.poll()})"
        yield proc
        with contextlib.suppress(psutil.Error):
            seen.update(c.pid for c in psutil.Process(proc.pid).children(recursive=True))
    finally:
        _kill_tree(proc, seen)
        for pipe in (proc.stdout, proc.stdin):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
    left = leftovers(seen, started)
    assert not left, f"processes of {script} left behind: {left}"
