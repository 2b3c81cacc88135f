"""Target: OpenMP threads that spin while Python waits. torch runs a few parallel matmuls on 2
intra-op threads with OMP_WAIT_POLICY=ACTIVE (set before torch loads), then the only Python
thread blocks on an event: the OpenMP worker spins at its barrier, burning a core for nothing.
Usage: spin_wait.py [max_seconds]."""

from __future__ import annotations

import os
import sys
import threading
import time

os.environ["OMP_WAIT_POLICY"] = "ACTIVE"
os.environ.setdefault("GOMP_SPINCOUNT", "infinity")

import torch  # noqa: E402


def main() -> None:
    max_s = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    torch.set_num_threads(2)
    a = torch.randn(256, 256)
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        a = (a @ a) / a.norm()
    print("ready", flush=True)
    threading.Event().wait(max_s)


if __name__ == "__main__":
    main()
