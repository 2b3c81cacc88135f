"""The kernel's view of real threads (probes.gil): pure-Python threads sharing one GIL are caught
asleep on the GIL's futex; a lone busy thread is never called a GIL waiter."""

from __future__ import annotations

import sys
import time

import psutil
import pytest

from probes.gil import measure, runtime_range
from probes.stacks import StackSampler
from tests.scripts.targets import target

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _worker_tids(pid: int, n: int) -> list[int]:
    # The busy threads are the ones using CPU; the main thread only joins.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tids = [t.id for t in psutil.Process(pid).threads() if t.id != pid]
        if len(tids) >= n:
            return tids[:n]
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} did not start {n} threads")


def test_two_pure_python_threads_are_seen_waiting_on_the_gil_futex() -> None:
    with target("busy_threads.py", "2", "30") as proc:
        tids = _worker_tids(proc.pid, 2)
        rng = runtime_range(proc.pid)
        assert rng is not None
        waits = []
        for _ in range(3):
            waits.append(measure(proc.pid, tids, runtime=rng, reads=40))
    gil = sum(w.gil_blocked for ws in waits for w in ws.values())
    other = sum(w.other_blocked for ws in waits for w in ws.values())
    reads = sum(w.reads for ws in waits for w in ws.values())
    # A waiter sleeps up to the 5 ms switch interval on the GIL's condition variable: long enough
    # for many reads to catch it there, and never on anything else.
    assert gil >= reads // 10, (gil, other, reads)
    assert other <= gil // 10, (gil, other, reads)
    assert max(w.gil_wait for ws in waits for w in ws.values()) >= 0.2


def test_a_lone_busy_thread_waits_for_no_gil() -> None:
    with target("busy_threads.py", "1", "30") as proc:
        (tid,) = _worker_tids(proc.pid, 1)
        sampler = StackSampler(proc.pid, lambda r: None)
        samples = [sampler.sample_pid(proc.pid) for _ in range(3)]
    states = [t for s in samples if s for t in s["threads"] if t["tid"] == tid]
    assert len(states) == 3, samples
    assert all(t["state"] in ("gil", "native") for t in states), states
    assert all("wait" not in t for t in states), states  # no window: nothing to contend with
