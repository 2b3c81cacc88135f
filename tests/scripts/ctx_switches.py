"""Target with a known number of context switches.

    ctx_switches.py sleep N     on a line on stdin, a worker thread sleeps N times (N voluntary
                                switches), then the script prints "done" and blocks
    ctx_switches.py pinned S    two threads hash without the GIL for S seconds, both pinned to one
                                core, so the scheduler must preempt them (involuntary switches)
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time


def sleeper(n: int) -> None:
    go, done, end = threading.Event(), threading.Event(), threading.Event()

    def work() -> None:
        go.wait()
        for _ in range(n):
            time.sleep(0.002)
        done.set()
        end.wait()  # stay alive: a thread that exits takes its counters with it

    t = threading.Thread(target=work, name="sleeper")
    t.start()
    print("ready", flush=True)
    sys.stdin.readline()
    go.set()
    done.wait()
    print("done", flush=True)
    sys.stdin.readline()  # block until the test is finished with it
    end.set()
    t.join()


def pinned(seconds: float) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    deadline = time.monotonic() + seconds
    block = b"x" * (4 << 20)

    def hash_loop() -> None:
        while time.monotonic() < deadline:
            hashlib.sha256(block).digest()  # releases the GIL: both threads are runnable

    threads = [threading.Thread(target=hash_loop, name=f"hash-{i}") for i in range(2)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    if sys.argv[1] == "sleep":
        sleeper(int(sys.argv[2]))
    else:
        pinned(float(sys.argv[2]))
