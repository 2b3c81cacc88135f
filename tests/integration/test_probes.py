"""Probes against real target processes (tests/scripts): what they see must match what runs."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from typing import Any

import psutil

from probes.session import ProbeSession
from probes.stacks import StackSampler
from probes.tree import BUSY_THREAD_MIN_PCT, ProcEntry, ProcessTreeSampler
from tests.scripts.targets import target
from tests.support.marks import needs_py_spy


class Records:
    """A thread-safe sink that keeps everything."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.items.append(record)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.items if r.get("kind") == kind]


def states(stacks: list[dict[str, Any]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for s in stacks:
        total.update(s["counts"])
    return total


def test_tree_sees_the_threads_of_one_process() -> None:
    with target("busy_threads.py", "3", "20") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.2)
        first = sampler.sample_once()
        time.sleep(0.6)  # long enough for each of the 3 spinning threads to be charged ticks
        sample = sampler.sample_once()
    assert first is not None and sample is not None
    assert sample["n_procs"] == 1
    assert sample["n_threads"] == 4  # main + 3 workers
    (root,) = sample["procs"]
    assert root["is_root"] and root["pid"] == proc.pid
    assert "busy_threads.py" in first["procs"][0]["cmd"] and "cmd" not in root  # once listed
    # only threads that ran are listed: the 3 spinning ones, busiest first; the main thread only
    # if it ran at all in the interval (it may just have printed "ready"), and then barely
    busiest = sorted(root["threads"], key=lambda t: -t["cpu_pct"])
    assert len(busiest) in (3, 4) and proc.pid not in {t["tid"] for t in busiest[:3]}, busiest
    assert all(t["cpu_pct"] > 10 for t in busiest[:3]), busiest
    assert all(t["tid"] == proc.pid and t["cpu_pct"] < 5 for t in busiest[3:]), busiest
    assert sample["capacity_pct"] == 100.0 * sample["usable_cores"]
    assert len(sample["per_core"]) == psutil.cpu_count()


def test_tree_sees_every_process_of_a_pool() -> None:
    with target("proc_pool.py", "20") as proc:
        records = Records()
        with ProcessTreeSampler(proc.pid, records, interval=0.25):
            time.sleep(1.3)
    trees = records.of("tree")
    assert len(trees) >= 3
    assert {t["n_procs"] for t in trees} == {3}  # the pool parent and its 2 workers
    workers = [p for p in trees[-1]["procs"] if not p["is_root"]]
    assert all(p["ppid"] == proc.pid for p in workers)
    assert len(workers) == 2
    # two busy processes: each worker gets CPU of its own. How much depends on the machine's load
    # (at a load of 18 on 2 cores, about 11 % of a core each), so the bar is the sampler's own
    # "runnable thread" one, not a share of a core a loaded machine cannot give.
    for worker in workers:
        cpu = [p["cpu_pct"] for t in trees for p in t["procs"] if p["pid"] == worker["pid"]]
        assert max(cpu) >= BUSY_THREAD_MIN_PCT, cpu


def test_a_processs_niceness_is_in_its_row_and_the_default_is_left_out() -> None:
    with target("proc_pool.py", "20") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.25)
        workers = psutil.Process(proc.pid).children()
        workers[0].nice(7)  # the kernel's niceness, set on a real process
        time.sleep(0.3)
        sample = sampler.sample_once()
    assert sample is not None and len(workers) == 2
    rows = {p["pid"]: p for p in sample["procs"]}
    assert rows[workers[0].pid]["nice"] == 7
    assert "nice" not in rows[workers[1].pid] and "nice" not in rows[proc.pid]


def test_wide_tree_of_sleeping_children() -> None:
    with target("sleeping_children.py", "6", "20") as proc:
        sample = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.1).sample_once()
    assert sample is not None
    assert sample["n_procs"] == 7
    assert sorted(p["name"] for p in sample["procs"]).count("sleep") == 6
    assert sample["cpu_pct_total"] < 50


@needs_py_spy
def test_gil_bound_threads_use_one_core_and_wait_for_the_gil() -> None:
    with target("busy_threads.py", "4", "20") as proc:
        records = Records()
        with ProbeSession(proc.pid, records, interval=0.5, stack_interval=0.4, tags={"run": "t"}):
            time.sleep(2.6)
    trees, stacks = records.of("tree"), records.of("stack")
    assert len(trees) >= 4 and len(stacks) >= 4
    assert all(r["run"] == "t" for r in records.items)
    # four threads, one GIL: about one core whatever the core count
    assert statistics.fmean(t["cpu_pct_total"] for t in trees) <= 130
    seen = states(stacks)
    assert seen["waiting_gil"] > 0
    assert seen["gil"] > 0


@needs_py_spy
def test_torch_kernels_show_as_native() -> None:
    with target("torch_threads.py", "30") as proc:
        records = Records()
        with StackSampler(proc.pid, records, interval=0.3):
            time.sleep(1.5)
    seen = states(records.of("stack"))
    assert seen["native"] > 0
    assert seen["native"] >= seen["waiting_gil"]


def test_children_that_come_and_go_are_accounted_for() -> None:
    with target("short_children.py", "20") as proc:
        records = Records()
        sampler = ProcessTreeSampler(proc.pid, records, interval=0.5)
        with sampler:
            time.sleep(3.2)
    trees = records.of("tree")
    assert sampler.errors == 0
    assert len(trees) >= 5
    assert {t["unattributed_method"] for t in trees} <= {"children_times", "cgroup"}
    unattributed = sum(t["unattributed_cpu_s"] for t in trees)
    seen = sum(t["cpu_pct_total"] * t["interval"] / 100 for t in trees)
    # children burn up to one core for the whole window (less on a busy machine); most of them
    # live and die between two samples, so only the unattributed figure can account for them
    # (on a loaded machine children live longer and samples catch more of them alive)
    assert unattributed > 0.2
    assert unattributed > 0.15 * (unattributed + seen)
    window = sum(t["interval"] for t in trees)
    assert unattributed + seen < 1.3 * window  # nothing counted twice: one child at a time


def test_fast_sampling_of_vanishing_children_never_raises() -> None:
    with target("short_children.py", "20") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.02)
        names: Counter[str] = Counter()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            sample = sampler.sample_once()
            assert sample is not None
            names.update(p["status"] for p in sample["procs"])
            time.sleep(0.01)
    assert names  # saw the parent every time, children some of the time


def test_pid_reuse_is_a_new_process() -> None:
    with target("sleeping_children.py", "2", "20") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.1)
        first = sampler.sample_once()
        assert first is not None
        child = next(p["pid"] for p in first["procs"] if not p["is_root"])
        real_start = sampler._tracked[child].start
        # Pretend the process we track under this pid is an older one that has since exited.
        fake = real_start - 1000
        sampler._tracked[child].start = fake
        sampler._table.table[child] = ProcEntry(proc.pid, fake, "sleep")
        second = sampler.sample_once()
    assert second is not None
    assert second["n_procs"] == 3
    assert sampler._tracked[child].start == real_start  # tracked afresh, keyed by its own start
    row = next(p for p in second["procs"] if p["pid"] == child)
    assert row["cpu_pct"] == 0.0  # an old, idle process first seen now is charged nothing
    assert sampler.errors == 0


def test_sampler_ends_by_itself_when_the_root_exits() -> None:
    with target("busy_threads.py", "1", "1.5") as proc:
        records = Records()
        sampler = ProcessTreeSampler(proc.pid, records, interval=0.2).start()
        proc.wait(10)
        deadline = time.monotonic() + 3
        while sampler._thread is not None and sampler._thread.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sampler.stop()
    assert records.of("tree")
    assert sampler.errors == 0


def _failure_notes(records: Records) -> list[dict[str, Any]]:
    """Notes other than the stack probe pacing itself to its CPU budget (which is no failure)."""
    return [n for n in records.of("note") if "stack dumps paced" not in n["message"]]


@needs_py_spy
def test_session_stop_is_prompt_and_idempotent() -> None:
    with target("proc_pool.py", "20") as proc:
        records = Records()
        session = ProbeSession(proc.pid, records, interval=0.2, stack_interval=0.2)
        session.start()
        # Until each of the three Python processes has been dumped once (a loaded machine makes
        # py-spy slow), so stop() lands in the middle of sampling, not before it got going.
        deadline = time.monotonic() + 60
        while len({s["pid"] for s in records.of("stack")}) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        t0 = time.monotonic()
        session.stop()
        took = time.monotonic() - t0
        session.stop()
        after = len(records.items)
        time.sleep(0.5)
    assert took < 1.0
    assert len(records.items) == after  # nothing arrives after stop()
    stacks = records.of("stack")
    assert {s["pid"] for s in stacks} >= {proc.pid}
    assert len({s["pid"] for s in stacks}) == 3  # root and both workers are Python
    assert not _failure_notes(records)


@needs_py_spy
def test_stack_sampler_ignores_a_target_that_exits() -> None:
    with target("busy_threads.py", "2", "1.0") as proc:
        records = Records()
        sampler = StackSampler(proc.pid, records, interval=0.1, pids_fn=lambda: [proc.pid])
        with sampler:
            proc.wait(10)
            time.sleep(0.5)
    assert sampler.disabled is None
    assert not _failure_notes(records)
