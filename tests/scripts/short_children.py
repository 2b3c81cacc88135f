"""Target: a parent that keeps spawning and reaping short CPU-burning children (0.1-0.3 s each).

Most children start and end between two probe samples, so only the parent's children CPU times
(or the cgroup counter) can account for them. Usage: short_children.py [max_seconds].
"""

from __future__ import annotations

import subprocess
import sys
import time

BURN = (
    "import time,sys\n"
    "end = time.process_time() + float(sys.argv[1])\n"
    "while time.process_time() < end:\n"
    "    pass\n"
)


def main() -> None:
    max_s = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    deadline = time.monotonic() + max_s
    print("ready", flush=True)
    i = 0
    while time.monotonic() < deadline:
        burn = 0.1 + 0.1 * (i % 3)
        subprocess.run([sys.executable, "-S", "-c", BURN, str(burn)], check=False)
        i += 1


if __name__ == "__main__":
    main()
