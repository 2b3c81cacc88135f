"""Pure parts of the process-tree sampler, the JSONL sink and the summary."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import psutil

from probes.sink import JsonlSink
from probes.summary import summarize
from probes.tree import (
    ProcEntry,
    ProcessTreeSampler,
    _busy_pct,
    _CgroupCounter,
    descendants,
    looks_python,
    scan_processes,
)


def test_descendants_parents_first_and_cycles_safe() -> None:
    table = {
        1: ProcEntry(0, 0.0, "init"),
        10: ProcEntry(1, 1.0, "root"),
        11: ProcEntry(10, 2.0, "child"),
        12: ProcEntry(11, 3.0, "grandchild"),
        20: ProcEntry(1, 4.0, "other"),
        30: ProcEntry(31, 5.0, "loop"),
        31: ProcEntry(30, 6.0, "loop"),
    }
    order = descendants(table, [10])
    assert order[0] == 10 and set(order) == {10, 11, 12}
    assert order.index(11) < order.index(12)
    assert set(descendants(table, [30, 10, 999])) == {10, 11, 12, 30, 31}


def test_scan_finds_this_process_with_its_parent() -> None:
    table = scan_processes()
    me = table[os.getpid()]
    assert me.ppid == os.getppid()
    assert me.start > 0


def test_looks_python() -> None:
    assert looks_python("python3.11", [])
    assert looks_python("pt_main_thread", ["/usr/bin/python3", "train.py"])
    assert looks_python("ray::IDLE", ["ray::IDLE", ""])
    assert not looks_python("sleep", ["sleep", "10"])


def test_busy_pct_from_cpu_times() -> None:
    cls = psutil.cpu_times().__class__
    fields = cls._fields
    a = cls(**{f: 0.0 for f in fields})
    b = cls(**{f: (3.0 if f == "user" else 1.0 if f == "idle" else 0.0) for f in fields})
    assert _busy_pct(a, b) == 75.0
    assert _busy_pct(b, b) == 0.0


def test_cgroup_counter_v2_and_v1(tmp_path: Path) -> None:
    v2 = tmp_path / "v2" / "job"
    v2.mkdir(parents=True)
    (v2 / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (v2 / "cgroup.procs").write_text("10\n11\n")
    (v2 / "sub").mkdir()
    (v2 / "sub" / "cgroup.procs").write_text("12\n")
    c = _CgroupCounter(v2, "cpu.stat")
    assert c.usage_s() == 2.5
    assert c.pids() == {10, 11, 12}
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "cpuacct.usage").write_text("1500000000\n")
    (v1 / "cgroup.procs").write_text("")
    c1 = _CgroupCounter(v1, "cpuacct.usage")
    assert c1.usage_s() == 1.5 and c1.pids() == set()


def test_cgroup_counter_for_this_process_reads_a_number() -> None:
    c = _CgroupCounter.for_pid(os.getpid())
    if c is not None:  # absent on some hosts; where present it must read
        assert (c.usage_s() or 0) > 0


def test_sampling_a_missing_root_returns_none_without_raising() -> None:
    sampler = ProcessTreeSampler(999_999_999, lambda r: None, interval=0.01)
    assert sampler.sample_once() is None
    sampler.start()
    sampler.stop()
    sampler.stop()
    assert sampler.errors == 0


def test_sampling_this_process_has_the_documented_shape() -> None:
    sample = ProcessTreeSampler(os.getpid(), lambda r: None, interval=0.05).sample_once()
    assert sample is not None
    assert set(sample) == {
        "kind", "t", "root", "interval", "n_procs", "idle_procs", "n_threads", "cpu_pct_total",
        "capacity_pct", "usable_cores", "per_core", "steal_pct", "load1", "unattributed_cpu_s",
        "unattributed_method", "observer_cpu_s", "ctx_invol_delta", "ctx_vol_delta", "procs",
    } | ({"cpu_quota", "throttle"} & set(sample))
    root = next(p for p in sample["procs"] if p.get("is_root"))
    required = {
        "pid", "ppid", "name", "status", "cpu_pct", "num_threads", "rss", "busy_threads", "is_root",
    }
    optional = {"cmd", "pools", "ctx_vol_delta", "ctx_invol_delta", "threads"}
    assert required <= set(root) <= required | optional
    assert "cmd" in root  # first listing
    assert root["rss"] > 0 and root["num_threads"] >= 1
    assert all({"tid", "cpu_s", "cpu_pct"} <= set(t) <= {"tid", "cpu_s", "cpu_pct", "name"}
               for t in root.get("threads", []))
    json.dumps(sample)


def test_jsonl_sink_lines_stay_whole_under_concurrent_writers(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "samples.jsonl")
    big = "x" * 5000

    def write(n: int) -> None:
        for i in range(200):
            sink({"kind": "tree", "writer": n, "i": i, "pad": big})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.append({"kind": "note"})
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 801
    assert all(json.loads(line)["kind"] in ("tree", "note") for line in lines)


def tree(
    t: float, n_procs: int, threads: list[int], cpu: float, cap: float = 200.0
) -> dict[str, Any]:
    return {
        "kind": "tree", "t": t, "interval": 0.5, "n_procs": n_procs, "n_threads": sum(threads),
        "cpu_pct_total": cpu, "capacity_pct": cap, "usable_cores": int(cap // 100),
        "unattributed_cpu_s": 0.1, "ctx_invol_delta": 10,
        "procs": [{"num_threads": n} for n in threads],
    }


def stack(*states: str, frame: str = "objective (x.py:1)") -> dict[str, Any]:
    return {
        "kind": "stack", "t": 0.0, "pid": 1,
        "threads": [{"state": s, "frames": [frame if s != "idle" else "wait (threading.py:1)"]}
                    for s in states],
    }


def test_summary() -> None:
    samples = [
        tree(0.0, 1, [4], 100.0), tree(0.5, 1, [4], 100.0), tree(1.0, 3, [4, 1, 1], 200.0),
        stack("gil", "waiting_gil", "idle"), stack("gil", "waiting_gil", "waiting_gil"),
        {"kind": "note", "level": "warning", "message": "stack sampling off: ptrace"},
        {"kind": "note", "level": "info", "message": "ignored"},
    ]
    s = summarize(samples)
    assert s["tree_samples"] == 3 and s["stack_samples"] == 2
    assert s["procs_peak"] == 3 and s["procs_median"] == 1
    assert s["threads_peak"] == 6 and s["threads_per_proc_peak"] == 4
    assert s["cpu_pct_mean"] == 133.3 and s["cpu_of_capacity_pct_mean"] == 66.7
    assert s["duration_s"] == 1.5
    assert abs(s["unattributed_cpu_s"] - 0.3) < 1e-9
    assert s["ctx_invol_per_s"] == 20.0
    assert s["thread_states"] == {"gil": 2, "native": 0, "waiting_gil": 3, "idle": 1}
    assert s["thread_state_fractions"]["waiting_gil"] == 0.5
    assert s["busiest_frames"] == [{"frame": "objective (x.py:1)", "count": 5, "fraction": 1.0}]
    assert s["notes"] == ["stack sampling off: ptrace"]


def test_summary_of_nothing() -> None:
    s = summarize([])
    assert s["tree_samples"] == 0 and s["busiest_frames"] == []
