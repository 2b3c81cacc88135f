"""Target: N pure-Python busy threads (GIL-bound). Usage: busy_threads.py N [max_seconds]."""

from __future__ import annotations

import sys
import threading
import time


def spin(deadline: float) -> None:
    x = 0
    while time.monotonic() < deadline:
        for i in range(10_000):
            x = (x * 31 + i) % 1_000_003


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    max_s = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    deadline = time.monotonic() + max_s
    threads = [threading.Thread(target=spin, args=(deadline,), name=f"busy-{i}") for i in range(n)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
