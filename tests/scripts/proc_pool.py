"""Target: a multiprocessing pool of 2 busy workers. Usage: proc_pool.py [max_seconds]."""

from __future__ import annotations

import sys

from busy_pool import run_busy_pool


def main() -> None:
    run_busy_pool(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)


if __name__ == "__main__":
    main()
