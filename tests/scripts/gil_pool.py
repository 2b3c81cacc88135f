"""Target: a ThreadPoolExecutor of N workers running a pure-Python function (GIL-bound: the
threads take turns on one interpreter). Usage: gil_pool.py N [max_seconds]."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

from busy_pool import burn


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    max_s = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    deadline = time.monotonic() + max_s
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(burn, deadline) for _ in range(n)]
        print("ready", flush=True)
        for f in futures:
            f.result()


if __name__ == "__main__":
    main()
