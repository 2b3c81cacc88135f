"""What proc_pool.py and throttled_pool.py share (not a target itself; they import it from this
folder, their sys.path[0]): a fork pool of 2 worker processes that burn CPU until a deadline."""

from __future__ import annotations

import multiprocessing as mp
import time


def burn(deadline: float) -> int:
    x = 0
    while time.time() < deadline:
        for i in range(10_000):
            x = (x * 31 + i) % 1_000_003
    return x


def run_busy_pool(max_s: float) -> None:
    """Keep 2 workers busy for `max_s` seconds; print "ready" once their work is sent."""
    deadline = time.time() + max_s
    with mp.get_context("fork").Pool(2) as pool:
        result = pool.map_async(burn, [deadline, deadline])
        print("ready", flush=True)
        result.wait(max_s + 5)
