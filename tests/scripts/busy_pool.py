"""What the pool targets share (not a target itself; they import it from this folder, their
sys.path[0]): `burn`, pure-Python work until a deadline (gil_pool.py's threads, the workers of the
other two), and the fork pool of 2 busy workers proc_pool.py and throttled_pool.py keep."""

from __future__ import annotations

import multiprocessing as mp
import time


def burn(deadline: float) -> int:
    """Keep one core busy in Python (holding the GIL) until `deadline`, a time.monotonic()."""
    x = 0
    while time.monotonic() < deadline:
        for i in range(10_000):
            x = (x * 31 + i) % 1_000_003
    return x


def run_busy_pool(max_s: float) -> None:
    """Keep 2 workers busy for `max_s` seconds; print "ready" once their work is sent."""
    deadline = time.monotonic() + max_s  # one clock for the whole machine: the workers read it too
    with mp.get_context("fork").Pool(2) as pool:
        result = pool.map_async(burn, [deadline, deadline])
        print("ready", flush=True)
        result.wait(max_s + 5)
