"""Target: a local Ray instance (ray.init in this process) running 2 busy tasks.

Usage: ray_tasks.py [max_seconds [pids_file]]. Needs ray; prints "ready" once both tasks run,
after writing the pids of the two workers running them to pids_file.
"""

from __future__ import annotations

import os
import sys
import time

import ray


@ray.remote
def spin(seconds: float, started: str) -> int:
    open(started + f".{os.getpid()}", "w").close()
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        for i in range(10_000):
            x = (x * 31 + i) % 1_000_003
    return x


def main() -> None:
    max_s = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    # address="local": always a fresh instance of our own, never a cluster already running here
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    marker = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ray_tasks.{os.getpid()}")
    refs = [spin.remote(max_s, marker) for _ in range(2)]
    # "ready" only once both tasks spin: on a loaded machine Ray's workers take long to start,
    # and a test that samples them before would see idle workers.
    deadline = time.time() + 170
    folder, prefix = os.path.split(marker)
    while sum(1 for f in os.listdir(folder) if f.startswith(prefix + ".")) < 2:
        if time.time() > deadline:
            sys.exit("ray_tasks: the two tasks did not start within 170 s")
        time.sleep(0.1)
    spinners = []
    # The markers have told us both tasks run; remove them now, as a test SIGKILLs this process.
    for f in os.listdir(folder):
        if f.startswith(prefix + "."):
            spinners.append(f.rsplit(".", 1)[1])
            os.unlink(os.path.join(folder, f))
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as fh:
            fh.write(" ".join(spinners))
    print("ready", flush=True)
    ray.get(refs)
    ray.shutdown()


if __name__ == "__main__":
    main()
