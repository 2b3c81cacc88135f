"""Target: a parent with N sleeping children (a wide, idle tree).

Usage: sleeping_children.py N [max_seconds].
"""

from __future__ import annotations

import subprocess
import sys
import time


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    max_s = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    children = [subprocess.Popen(["sleep", str(max_s)]) for _ in range(n)]
    print("ready", flush=True)
    deadline = time.monotonic() + max_s
    try:
        while time.monotonic() < deadline and any(c.poll() is None for c in children):
            time.sleep(0.2)
    finally:
        for c in children:
            c.kill()
            c.wait()


if __name__ == "__main__":
    main()
