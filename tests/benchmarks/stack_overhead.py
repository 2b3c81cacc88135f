"""How much the stack sampler at its default rate slows a CPU-bound Python target.

A target process runs a fixed pure-Python workload in small chunks (~2 ms) and prints the time
each chunk ends. Two measurements:

- per dump (the answer): with the StackSampler attached (py-spy dump --nonblocking every 2 s),
  the chunks that overlap a dump are compared with the chunks in the second around it; their
  extra time, summed over all dumps, divided by the time sampled, is the slowdown. Being local
  to each dump it is immune to the drift of a shared machine's load.
- A/B windows: windows with and without the sampler alternate; the median throughput ratio of
  adjacent pairs. What a user would see, but only meaningful on a quiet machine.

Also printed: py-spy's own CPU per dump. Target: <= 2 % slowdown.
Usage: python tests/benchmarks/stack_overhead.py [--seconds 60] [--pairs 4] [--pin]
"""

from __future__ import annotations

import argparse
import os
import resource
import selectors
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from probes.stacks import StackSampler  # noqa: E402

CHUNK = 20_000  # loop iterations per chunk: a few ms of pure-Python work


def work() -> None:
    """Target mode: chunk after chunk of the same work, printing when each ends, until killed."""
    x = 0
    out = sys.stdout
    clock = time.time
    while True:
        for i in range(CHUNK):
            x = (x * 31 + i) % 1_000_003
        out.write(f"{clock():.6f}\n")
        out.flush()


def read_stamps(proc: subprocess.Popen[bytes], seconds: float) -> tuple[list[float], float]:
    """End times of the chunks the target finishes in a window of `seconds`, and its length."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    fd = proc.stdout.fileno()
    buf = b""
    start = time.monotonic()
    end = start + seconds
    while (now := time.monotonic()) < end:
        if sel.select(end - now):
            buf += os.read(fd, 65536)
    sel.close()
    lines = buf.split(b"\n")[1:-1]  # the first and last may be partial
    return [float(x) for x in lines], time.monotonic() - start


def count_chunks(proc: subprocess.Popen[bytes], seconds: float) -> tuple[int, float]:
    stamps, secs = read_stamps(proc, seconds)
    return len(stamps), secs


def per_dump_excess(stamps: list[float], dumps: list[tuple[float, float]]) -> tuple[float, float]:
    """Extra seconds the chunks overlapping each dump took, against the mean chunk of the second
    before and after; and the seconds those stamps cover."""
    durations = [(stamps[i - 1], stamps[i]) for i in range(1, len(stamps))]
    excess = 0.0
    for t0, t1 in dumps:
        hit = [b - a for a, b in durations if b > t0 and a < t1]
        near = [b - a for a, b in durations
                if (t0 - 1.0 <= a and b <= t0) or (t1 <= a and b <= t1 + 1.0)]
        if hit and near:
            excess += sum(hit) - len(hit) * statistics.fmean(near)
    return excess, stamps[-1] - stamps[0] if stamps else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per-dump measurement length")
    parser.add_argument("--pairs", type=int, default=4, help="on/off window pairs")
    parser.add_argument("--window", type=float, default=6.0, help="seconds per window")
    parser.add_argument("--interval", type=float, default=2.0, help="stack sample period")
    parser.add_argument("--pin", action="store_true",
                        help="target on the first CPU, this process and py-spy on the others "
                        "(the case of a machine with idle cores)")
    parser.add_argument("--target", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.target:
        work()
        return 0

    proc = subprocess.Popen([sys.executable, __file__, "--target"], stdout=subprocess.PIPE)
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs at least 2 CPUs")
        os.sched_setaffinity(proc.pid, cpus[:1])
        os.sched_setaffinity(0, cpus[1:])  # inherited by the py-spy processes
    dumps = 0
    ratios: list[float] = []
    spy_cpu = 0.0
    try:
        count_chunks(proc, 1.0)  # warm up
        # per dump
        windows: list[tuple[float, float]] = []

        def on_sample(record: dict[str, Any]) -> None:
            if record["kind"] == "stack":
                windows.append((record["t"], time.time()))

        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with StackSampler(proc.pid, on_sample, interval=args.interval, pids_fn=lambda: [proc.pid]):
            stamps, _ = read_stamps(proc, args.seconds)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        spy_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        dumps = len(windows)
        excess, covered = per_dump_excess(stamps, windows)
        dump_wall = statistics.fmean(t1 - t0 for t0, t1 in windows) if windows else 0.0
        slowdown = excess / covered if covered else 0.0
        print(f"per dump: {dumps} dumps in {covered:.0f} s, {1000 * dump_wall:.0f} ms wall and "
              f"{1000 * spy_cpu / max(1, dumps):.0f} ms py-spy CPU each; target chunks overlapping "
              f"a dump took {1000 * excess / max(1, dumps):+.2f} ms extra per dump", flush=True)
        # A/B windows
        for pair in range(args.pairs):
            # alternate which half goes first, so a trend in machine load cancels out
            order = ("off", "on") if pair % 2 == 0 else ("on", "off")
            rate: dict[str, float] = {}
            for mode in order:
                if mode == "on":
                    with StackSampler(proc.pid, lambda r: None, interval=args.interval,
                                      pids_fn=lambda: [proc.pid]):
                        n, secs = count_chunks(proc, args.window)
                else:
                    n, secs = count_chunks(proc, args.window)
                rate[mode] = n / secs
            ratios.append(rate["off"] / rate["on"])
            print(f"A/B pair {pair + 1}: off {rate['off']:.1f} chunks/s, on {rate['on']:.1f} "
                  f"chunks/s, slowdown {100 * (ratios[-1] - 1):+.2f} %", flush=True)
    finally:
        proc.kill()
        proc.wait()
    if ratios:
        print(f"A/B: median slowdown {100 * (statistics.median(ratios) - 1):+.2f} % over "
              f"{len(ratios)} pairs (min {100 * (min(ratios) - 1):+.2f} %, "
              f"max {100 * (max(ratios) - 1):+.2f} %; load average {os.getloadavg()[0]:.1f})")
    print(f"stack sampler every {args.interval:g} s: slowdown {100 * slowdown:+.3f} % per dump "
          f"measure; py-spy uses {100 * spy_cpu / args.seconds:.2f} % of one core; target <= 2 %")
    return 0 if slowdown <= 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())
