"""Figures of a run's process-tree samples: cores busy (the run's and other jobs'), busy
processes, runnable threads, the work-phase window, limits (quota, throttling, steal), and which
tree samples describe a run (its own, or its Ray nodes merged)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any, cast

from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.cluster import ClusterView, merge
from bench.records.schema import Sample, TreeSample


def cpu_cores(sample: Mapping[str, Any]) -> float:
    """Cores busy in a tree sample, CPU of short-lived children the sample missed included."""
    cores = float(sample.get("cpu_pct_total") or 0.0) / 100.0
    interval = float(sample.get("interval") or 0.0)
    if interval > 0:
        cores += float(sample.get("unattributed_cpu_s") or 0.0) / interval
    return cores


def observer_cores(sample: Mapping[str, Any]) -> float:
    """Cores the probes themselves used (their process and its py-spy dumps; 0 where a sample
    predates the figure)."""
    interval = float(sample.get("interval") or 0.0)
    return float(sample.get("observer_cpu_s") or 0.0) / interval if interval > 0 else 0.0


def foreign_cores(sample: Mapping[str, Any]) -> float | None:
    """Cores busy machine-wide but neither in the run's tree nor the probes': other jobs."""
    per_core = sample.get("per_core")
    if not per_core:
        return None
    busy = sum(float(x) for x in per_core) / 100.0
    return max(0.0, busy - cpu_cores(sample) - observer_cores(sample))


def busy_procs(sample: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        p
        for p in sample.get("procs") or []
        if float(p.get("cpu_pct") or 0) >= th.BUSY_PROCESS_MIN_PCT
    ]


def runnable_threads(sample: Mapping[str, Any]) -> tuple[int, bool]:
    """Threads that ran in the interval, and whether a process's thread list was cut short
    (the sampler keeps only each process's busiest threads, so the count is then a floor)."""
    n, truncated = 0, False
    for p in sample.get("procs") or []:
        if p.get("busy_threads") is not None:  # a sampler that counts them itself
            n += int(p["busy_threads"])
            continue
        threads = p.get("threads") or []
        busy = [t for t in threads if float(t.get("cpu_pct") or 0) >= th.RUNNABLE_THREAD_MIN_PCT]
        n += len(busy)
        if threads and len(busy) == len(threads) and int(p.get("num_threads") or 0) > len(threads):
            truncated = True
    return n, truncated


def in_window(
    samples: Sequence[TreeSample], window: tuple[float, float] | None
) -> list[TreeSample]:
    """Samples taken inside the window, or all when too few fall inside (a very short run)."""
    if window is None:
        return list(samples)
    inside = [s for s in samples if window[0] < float(s.get("t") or 0) <= window[1]]
    return inside if len(inside) >= th.MIN_WORK_SAMPLES else list(samples)


def tree_sample_figures(tree: list[TreeSample], usable: int) -> dict[str, Any]:
    if not tree:
        return {}
    cores = [cpu_cores(s) for s in tree]
    runnable = [runnable_threads(s) for s in tree]
    # By (node, pid): merged cluster samples hold processes of several machines (node None here).
    pid_cpu: dict[tuple[Any, int], list[float]] = {}
    by_nice: dict[int, float] = {}  # the tree's CPU by niceness (a row without "nice" ran at 0)
    for s in tree:
        for p in s.get("procs") or []:
            cpu = float(p.get("cpu_pct") or 0)
            pid_cpu.setdefault(proc_key(p), []).append(cpu)
            nice = int(p.get("nice") or 0)
            by_nice[nice] = by_nice.get(nice, 0.0) + cpu
    busiest = max(pid_cpu, key=lambda key: sum(pid_cpu[key]), default=None)
    seconds = sum(float(s.get("interval") or 0) for s in tree)
    invol = sum(int(s.get("ctx_invol_delta") or 0) for s in tree)
    # A live process always makes some voluntary switches; none at all means the kernel (some
    # sandboxes) does not count them, so the involuntary figure is unknown, not zero.
    counted = invol + sum(int(s.get("ctx_vol_delta") or 0) for s in tree) > 0
    foreign = [f for s in tree if (f := foreign_cores(s)) is not None]
    observed = [observer_cores(s) for s in tree if s.get("observer_cpu_s") is not None]
    total = sum(by_nice.values())
    niced = {n: c for n, c in by_nice.items() if n > 0 and c > 0}
    return {
        "tree_samples": len(tree),
        "cpu_cores_mean": statistics.fmean(cores),
        "cpu_cores_peak": max(cores),
        "cpu_core_seconds": sum(
            c * float(s.get("interval") or 0) for c, s in zip(cores, tree, strict=True)
        ),
        "busy_procs_peak": max(len(busy_procs(s)) for s in tree),
        "busy_children_peak": max(
            len([p for p in busy_procs(s) if not p.get("is_root")]) for s in tree
        ),
        "threads_peak_per_proc": max(
            (int(p.get("num_threads") or 0) for s in tree for p in s.get("procs") or []), default=0
        ),
        "threads_peak_total": max(int(s.get("n_threads") or 0) for s in tree),
        "runnable_threads_median": statistics.median(n for n, _ in runnable),
        "runnable_threads_truncated": any(t for _, t in runnable),
        "invol_per_core_s": invol / seconds / usable if seconds > 0 and counted else None,
        "foreign_cores_mean": statistics.fmean(foreign) if foreign else None,
        "observer_cores_mean": statistics.fmean(observed) if observed else None,
        "busiest_pid": busiest[1] if busiest is not None else None,
        "busiest_cpu_pct": statistics.median(pid_cpu[busiest]) if busiest is not None else None,
        "niced_cpu_share": sum(niced.values()) / total if total > 0 else None,
        "niced_nice": max(niced, key=lambda n: niced[n]) if niced else None,
    }


def limits(tree: Sequence[TreeSample]) -> dict[str, Any]:
    """Quota, throttling and steal over the samples (probes.tree.limits), and how the runnable
    threads spread over the tree's processes."""
    if not tree:
        return {}
    out: dict[str, Any] = {"tree_seconds": sum(float(s.get("interval") or 0) for s in tree)}
    quotas = [float(q) for s in tree if (q := s.get("cpu_quota"))]
    if quotas:
        out["cpu_quota"] = min(quotas)
        throttles = [s["throttle"] for s in tree if isinstance(s.get("throttle"), dict)]
        out["throttle_periods"] = sum(int(t.get("periods") or 0) for t in throttles)
        out["throttled_periods"] = sum(int(t.get("throttled") or 0) for t in throttles)
        out["throttled_s"] = sum(float(t.get("throttled_s") or 0) for t in throttles)
    steal = [float(v) for s in tree if (v := s.get("steal_pct")) is not None]
    if steal:
        out["steal_share"] = statistics.fmean(steal) / 100.0
    working: list[int] = []
    by_proc: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    pools: dict[str, None] = {}
    for s in tree:
        n = 0
        for p in s.get("procs") or []:
            busy = int(p.get("busy_threads") or 0) if p.get("busy_threads") is not None else (
                1 if float(p.get("cpu_pct") or 0) >= th.RUNNABLE_THREAD_MIN_PCT else 0
            )
            pid = int(p.get("pid") or 0)
            by_proc.setdefault(pid, []).append(busy)
            names[pid] = str(p.get("name") or "")
            n += busy > 0
            for lib in p.get("pools") or []:
                pools[str(lib)] = None
        working.append(n)
    out["working_procs_median"] = statistics.median(working)
    samples = len(tree)
    ranked = sorted(
        ((pid, names[pid], statistics.median(v + [0] * (samples - len(v)))) for pid, v in by_proc.items()),
        key=lambda x: -x[2],
    )
    out["runnable_by_proc"] = tuple(x for x in ranked if x[2] > 0)[:8]
    out["pools"] = tuple(pools)
    out["children_alive"] = max(0, int(tree[-1].get("n_procs") or 0) - 1)
    return out


def proc_key(p: Mapping[str, Any]) -> tuple[Any, int]:
    return p.get("node"), int(p.get("pid") or 0)


def run_tree(samples: Sequence[Sample]) -> tuple[list[TreeSample], ClusterView | None]:
    """The process-tree samples that describe a run, oldest first: its nodes' workers merged when
    node probes on two or more Ray nodes sent samples (the cluster view comes with them), else the
    run's own tree samples."""
    cluster = merge(samples)
    if cluster is not None:
        return cluster.samples, cluster
    tree = [cast(TreeSample, s) for s in samples if s.get("kind") == "tree"]
    tree.sort(key=lambda s: float(s.get("t") or 0))
    return tree, None
