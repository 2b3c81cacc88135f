"""Target: join the cgroup whose cgroup.procs file is given, then keep a pool of 2 busy worker
processes (a 1-CPU quota throttles them). Usage: throttled_pool.py CGROUP_PROCS [max_seconds]."""

from __future__ import annotations

import os
import sys

from busy_pool import run_busy_pool


def main() -> None:
    with open(sys.argv[1], "w") as fh:  # before the workers exist: they are born inside it
        fh.write(str(os.getpid()))
    run_busy_pool(float(sys.argv[2]) if len(sys.argv) > 2 else 30.0)


if __name__ == "__main__":
    main()
