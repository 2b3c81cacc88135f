"""The tree sampler's context-switch counters against processes whose switches are known."""

from __future__ import annotations

import time

from probes.tree import ProcessTreeSampler
from probes.tree.procfs import _status_counter
from tests.scripts.targets import target

SLEEPS = 200


def test_status_counter_reads_the_number_after_its_key() -> None:
    data = b"Name:\tx\nvoluntary_ctxt_switches:\t123\nnonvoluntary_ctxt_switches:\t45\n"
    assert _status_counter(data, b"\nvoluntary_ctxt_switches:") == 123
    assert _status_counter(data, b"\nnonvoluntary_ctxt_switches:") == 45
    assert _status_counter(data[:-1], b"\nnonvoluntary_ctxt_switches:") == 45  # no final newline
    assert _status_counter(data, b"\nmissing:") == 0


def test_voluntary_switches_count_each_sleep() -> None:
    with target("ctx_switches.py", "sleep", str(SLEEPS), stdin=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.1)
        sampler.sample_once()  # baseline: every thread's counters before the sleeps
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        time.sleep(0.05)  # the main thread has printed and blocked again
        sample = sampler.sample_once()
    assert sample is not None
    row = sample["procs"][0]
    # Each sleep blocks once; waking from the Event and the two stdin reads add a few more.
    assert SLEEPS <= row["ctx_vol_delta"] <= SLEEPS + 20, row
    assert sample["ctx_vol_delta"] == row["ctx_vol_delta"]


def test_involuntary_switches_of_two_busy_threads_on_one_core() -> None:
    with target("ctx_switches.py", "pinned", "20") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.5)
        sampler.sample_once()
        t0 = time.monotonic()
        time.sleep(1.5)
        sample = sampler.sample_once()
        took = time.monotonic() - t0
    assert sample is not None
    # Two runnable threads on one core: the scheduler preempts one for the other every slice
    # (a few ms); more load on that core only adds preemptions, never removes them.
    per_s = sample["ctx_invol_delta"] / took
    assert per_s >= 20, sample["ctx_invol_delta"]
    assert sample["procs"][0]["ctx_invol_delta"] == sample["ctx_invol_delta"]
