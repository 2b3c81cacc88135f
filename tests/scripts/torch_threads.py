"""Target: a torch matmul loop with 2 intra-op threads (time goes to native kernels, GIL released).

Usage: torch_threads.py [max_seconds] [size]
"""

from __future__ import annotations

import sys
import time

import torch


def main() -> None:
    max_s = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    torch.set_num_threads(2)
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    deadline = time.monotonic() + max_s
    print("ready", flush=True)
    while time.monotonic() < deadline:
        c = a @ b
        a = c / c.norm()


if __name__ == "__main__":
    main()
