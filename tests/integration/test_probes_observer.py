"""The probes' own CPU (`observer_cpu_s`) against work whose CPU is known: a thread of the
sampler's process that burns a set amount, and real py-spy dumps whose cost the kernel reports.
What the probes use is not other jobs' load (CONTENDED), so it must be counted, and only once."""

from __future__ import annotations

import os
import resource
import threading
import time
from typing import Any

import psutil
import pytest

from probes.pyspy import PySpyError, dump
from probes.session import ProbeSession
from probes.stacks import StackSampler
from probes.tree import ProcessTreeSampler
from tests.scripts.targets import target
from tests.support.marks import needs_py_spy

BURN_S = 0.3


def _burn(cpu_s: float) -> None:
    """Use `cpu_s` seconds of CPU in a thread of this process (however long that takes)."""

    def spin() -> None:
        end = time.thread_time() + cpu_s
        x = 0
        while time.thread_time() < end:
            x = (x * 31 + 7) % 1_000_003

    t = threading.Thread(target=spin)
    t.start()
    t.join()


def test_the_samplers_own_process_is_the_observer_not_the_tree() -> None:
    with target("sleeping_children.py", "2", "60") as proc:
        sampler = ProcessTreeSampler(proc.pid, lambda r: None, interval=0.1)
        sampler.sample_once()  # baseline
        _burn(BURN_S)
        sample = sampler.sample_once()
    assert sample is not None
    # All of the burn happened between the two samples, in this (the sampler's) process; the
    # rest is the sampler's own reads and pytest, a small part of a second of CPU.
    assert BURN_S <= sample["observer_cpu_s"] <= BURN_S + 0.25, sample["observer_cpu_s"]
    assert sample["cpu_pct_total"] * sample["interval"] / 100 < 0.1  # the sleeping tree's own


def test_a_sampler_inside_its_own_tree_counts_its_cpu_once() -> None:
    sampler = ProcessTreeSampler(os.getpid(), lambda r: None, interval=0.1)
    sampler.sample_once()
    _burn(BURN_S)
    sample = sampler.sample_once()
    assert sample is not None
    assert sample["observer_cpu_s"] == 0.0  # it is the tree's CPU already
    assert sample["cpu_pct_total"] * sample["interval"] / 100 >= BURN_S * 0.9


@needs_py_spy
def test_a_py_spy_dump_reports_the_cpu_the_kernel_charged_it() -> None:
    """The CPU `dump` reports for py-spy is its rusage: what this process's reaped children's
    CPU grew by over the dump (nothing else is reaped here meanwhile)."""
    with target("busy_threads.py", "2", "60") as proc:
        reported: list[float] = []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(3):
            dump(proc.pid, on_cpu=reported.append)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    grew = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert len(reported) == 3 and all(c > 0 for c in reported), reported
    assert sum(reported) == pytest.approx(grew, abs=1e-3)


@needs_py_spy
def test_a_failed_dump_reports_its_cpu_too() -> None:
    reported: list[float] = []
    with target("sleeping_children.py", "1", "60") as proc:
        sleep = psutil.Process(proc.pid).children()[0]  # `sleep`: not Python, py-spy fails
        with pytest.raises(PySpyError):
            dump(sleep.pid, on_cpu=reported.append)
    assert len(reported) == 1 and reported[0] > 0, reported


@needs_py_spy
def test_a_session_charges_its_py_spy_dumps_to_the_observer() -> None:
    records: list[dict[str, Any]] = []
    with target("busy_threads.py", "2", "60") as proc:
        session = ProbeSession(proc.pid, records.append, interval=0.2, stack_interval=0.2)
        with session:
            deadline = time.monotonic() + 60
            while len([r for r in records if r.get("kind") == "stack"]) < 5:
                assert time.monotonic() < deadline, "no stack dumps"
                time.sleep(0.05)
        last = session.tree.sample_once()  # the dumps after the session's last tree sample
        assert last is not None and session.stacks is not None
        spent = session.stacks.py_spy_cpu_s
    observed = sum(float(r["observer_cpu_s"]) for r in [*records, last] if r.get("kind") == "tree")
    assert spent > 0
    # The session's process time (its threads, this test's loop) comes on top of py-spy's.
    assert observed >= spent, (observed, spent)


def test_a_dump_stopped_after_its_py_spy_exited_still_reports_its_cpu(tmp_path: Any) -> None:
    """A py-spy that has exited but is not yet collected (its pipes still held open: here by a
    `sleep` it left behind) is stopped at the dump's timeout. Stopping it must not reap it:
    Popen.kill polls first, which collected it there and lost its CPU (no report at all)."""
    fake = tmp_path / "py-spy"
    left = tmp_path / "left.pid"
    fake.write_text(f"#!/bin/sh\nsleep 30 &\necho $! > {left}\nexit 0\n")
    fake.chmod(0o755)
    reported: list[float] = []
    try:
        with pytest.raises(PySpyError) as err:
            dump(os.getpid(), py_spy=str(fake), timeout=1.0, on_cpu=reported.append)
    finally:
        if left.exists():
            psutil.Process(int(left.read_text())).kill()
    assert err.value.kind == "timeout"
    assert len(reported) == 1 and reported[0] >= 0, reported


@needs_py_spy
def test_stack_dumps_are_paced_to_their_cpu_budget() -> None:
    """Back-to-back dumps of a real process (interval 0.05 s) would keep py-spy busy most of the
    time; with a budget of 0.02 cores the rounds are spaced so that what py-spy used stays within
    the budget over the session, plus the one round in flight when it stopped."""
    budget = 0.02
    records: list[dict[str, Any]] = []
    costs: list[float] = []
    with target("busy_threads.py", "2", "60") as proc:
        sampler = StackSampler(proc.pid, records.append, interval=0.05, max_cores=budget,
                               pace_after=0)
        spent = sampler._spent

        def spent_and_kept(cpu_s: float) -> None:
            costs.append(cpu_s)
            spent(cpu_s)

        sampler._spent = spent_and_kept  # type: ignore[method-assign]
        began = time.monotonic()
        with sampler:
            time.sleep(3.0)
        wall = time.monotonic() - began
    assert costs and sampler.py_spy_cpu_s == pytest.approx(sum(costs))
    assert sampler.py_spy_cpu_s <= budget * wall + max(costs), (sampler.py_spy_cpu_s, costs)
    assert sampler.paced_s > 0
    notes = [r["message"] for r in records if r.get("kind") == "note"]
    assert len(notes) == 1 and "stack dumps paced to one round every" in notes[0], notes


@needs_py_spy
def test_the_first_rounds_are_not_paced() -> None:
    """The diagnosis needs a few dumps of a process before it judges from stacks; a short attach
    must get them, so pacing starts after `pace_after` rounds."""
    records: list[dict[str, Any]] = []
    with target("busy_threads.py", "2", "60") as proc:
        sampler = StackSampler(proc.pid, records.append, interval=0.05, max_cores=0.001,
                               pace_after=3)
        with sampler:
            deadline = time.monotonic() + 60
            while not any(r.get("kind") == "note" for r in records):
                assert time.monotonic() < deadline, "never paced"
                time.sleep(0.05)
    kinds = [r["kind"] for r in records]
    # three rounds (a dump each) unpaced, then the fourth's dump and the note of its pause
    assert kinds[:5] == ["stack"] * 4 + ["note"], kinds
