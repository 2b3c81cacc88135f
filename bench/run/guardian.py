"""A run's guardian: `python -m bench.run.guardian PID`, started by `bench`, reading a pipe from it.

After a `kill -9` of bench nothing in bench can clean up, and processes a library starts on its
own (a local Ray's raylet, agents and workers; loky's resource tracker) do not die with their
parent, or take many seconds to notice. The guardian keeps a list of bench's descendants; when its
pipe closes without the word that the run ended, bench is dead and it kills every one of them.
It is bench's child beside the run's child, so the probes, rooted at the run's child, never see it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys

import psutil

DONE = b"done\n"  # written by bench before it closes the pipe on a normal end
SCAN_S = 0.2  # how often the list of descendants is refreshed


def _scan(root: psutil.Process, seen: dict[tuple[int, float], psutil.Process], skip: set[int]) -> None:
    with contextlib.suppress(psutil.Error):
        for p in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if p.pid not in skip:
                    seen.setdefault((p.pid, p.create_time()), p)


def guard(parent_pid: int, fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for bench, which then ends us
    try:
        root = psutil.Process(parent_pid)
    except psutil.Error:
        return 0
    # Processes bench had before this run (a test session's Ray head) are not the run's: those
    # older than this guardian. Not "bench's children when the guardian got going": by then bench
    # may have started the run's first process (python takes a moment to start), and that one is
    # exactly what must die with bench.
    born = psutil.Process().create_time()
    skip = {os.getpid()}
    for p in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if p.create_time() < born:
                skip.add(p.pid)
    seen: dict[tuple[int, float], psutil.Process] = {}
    data = b""
    while True:
        ready, _, _ = select.select([fd], [], [], SCAN_S)
        if not ready:
            _scan(root, seen, skip)
            continue
        chunk = os.read(fd, 64)
        if chunk:
            data += chunk
            continue
        break
    if data.endswith(DONE):
        return 0
    for p in seen.values():  # psutil checks the create time: a reused pid is not killed
        with contextlib.suppress(psutil.Error):
            p.kill()
    return 0


class Guardian:
    """`bench.run.guardian` started for this process's run: kills what the run started if this
    process dies without `close()` (a `kill -9`); `close()` ends it on a normal end."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONSAFEPATH": "1"}
        self.proc: subprocess.Popen[bytes] | None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.run.guardian", str(os.getpid())],
                stdin=subprocess.PIPE, env=env,
            )
        except OSError:
            self.proc = None  # best effort: the parent-death signals still apply

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def close(self) -> None:
        if self.proc is None or self.proc.stdin is None:
            return
        with contextlib.suppress(OSError):
            self.proc.stdin.write(DONE)
            self.proc.stdin.close()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: python -m bench.run.guardian PARENT_PID (pipe on stdin)", file=sys.stderr)
        return 2
    return guard(int(sys.argv[1]), sys.stdin.fileno())


if __name__ == "__main__":
    sys.exit(main())
