"""Target: join the cgroup whose cgroup.procs file is given, then keep a pool of 2 busy worker
processes (a 1-CPU quota throttles them). Usage: throttled_pool.py CGROUP_PROCS [max_seconds]."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time


def burn(deadline: float) -> int:
    x = 0
    while time.time() < deadline:
        for i in range(10_000):
            x = (x * 31 + i) % 1_000_003
    return x


def main() -> None:
    with open(sys.argv[1], "w") as fh:  # before the workers exist: they are born inside it
        fh.write(str(os.getpid()))
    max_s = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    deadline = time.time() + max_s
    with mp.get_context("fork").Pool(2) as pool:
        result = pool.map_async(burn, [deadline, deadline])
        print("ready", flush=True)
        result.wait(max_s + 5)


if __name__ == "__main__":
    main()
