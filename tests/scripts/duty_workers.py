"""Target: W worker processes, each busy for `duty` of every 0.1 s and asleep for the rest, for
`seconds`. Usage: duty_workers.py DUTY SECONDS [W=2]. At duty 0.5 the workers are runnable in
every sample yet leave half of their cores idle."""

from __future__ import annotations

import multiprocessing as mp
import sys
import time

PERIOD_S = 0.1


def work(duty: float, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        busy_until = time.thread_time() + duty * PERIOD_S  # CPU, so load stretches the wall only
        x = 0
        while time.thread_time() < busy_until:
            x = (x * 31 + 7) % 1_000_003
        if duty < 1.0:
            time.sleep((1.0 - duty) * PERIOD_S)


def main() -> None:
    duty, seconds = float(sys.argv[1]), float(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    procs = [mp.Process(target=work, args=(duty, seconds)) for _ in range(workers)]
    for p in procs:
        p.start()
    print("ready", flush=True)
    for p in procs:
        p.join()


if __name__ == "__main__":
    main()
