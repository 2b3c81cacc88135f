"""Target at the original machine's scale: a parent with many threads and many child processes.

Usage: wide_tree.py PROCS THREADS [BUSY] [max_seconds]: PROCS processes in all (the parent and
PROCS-1 `sleep` children), THREADS threads in all (the parent's own, sleeping on an event, plus
one per child), BUSY of the parent's threads working half the time (the rest sleep).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time


def half_busy(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        end = time.monotonic() + 0.01
        while time.monotonic() < end:
            x = (x * 31 + 7) % 1_000_003
        time.sleep(0.01)


def main() -> None:
    procs, threads = int(sys.argv[1]), int(sys.argv[2])
    busy = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    max_s = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    children = [subprocess.Popen(["sleep", str(max_s)]) for _ in range(procs - 1)]
    stop = threading.Event()
    own = threads - (procs - 1) - 1  # besides the main thread and one per child
    pool = [
        threading.Thread(target=half_busy if i < busy else stop.wait, args=(stop,) if i < busy else (),
                         daemon=True)
        for i in range(own)
    ]
    for t in pool:
        t.start()
    print("ready", flush=True)
    try:
        stop.wait(max_s)
    finally:
        stop.set()
        for c in children:
            c.kill()
            c.wait()


if __name__ == "__main__":
    main()
