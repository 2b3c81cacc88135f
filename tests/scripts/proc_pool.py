"""Target: a multiprocessing pool of 2 busy workers. Usage: proc_pool.py [max_seconds]."""

from __future__ import annotations

import multiprocessing as mp
import sys
import time


def burn(deadline: float) -> int:
    x = 0
    while time.time() < deadline:
        for i in range(10_000):
            x = (x * 31 + i) % 1_000_003
    return x


def main() -> None:
    max_s = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    deadline = time.time() + max_s
    with mp.get_context("fork").Pool(2) as pool:
        result = pool.map_async(burn, [deadline, deadline])
        print("ready", flush=True)
        result.wait(max_s + 5)


if __name__ == "__main__":
    main()
