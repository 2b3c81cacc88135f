"""Target: a multiprocessing pool whose workers run torch matmuls, as a user's job would.

Usage: torch_pool.py WORKERS THREADS [max_seconds]. THREADS is `default` (each worker keeps
torch's own intra-op thread count, one per core: W x cores busy threads) or a number set with
torch.set_num_threads in each worker before it works.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time

import torch


def work(args: tuple[float, str]) -> int:
    deadline, threads = args
    if threads != "default":
        torch.set_num_threads(int(threads))
    a = torch.randn(384, 384)
    b = torch.randn(384, 384)
    n = 0
    while time.time() < deadline:
        c = a @ b
        a = c / c.norm()
        n += 1
    return n


def main() -> None:
    workers, threads = int(sys.argv[1]), sys.argv[2]
    max_s = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    deadline = time.time() + max_s
    with mp.get_context("fork").Pool(workers) as pool:
        result = pool.map_async(work, [(deadline, threads)] * workers)
        print("ready", flush=True)
        result.wait(max_s + 5)


if __name__ == "__main__":
    main()
