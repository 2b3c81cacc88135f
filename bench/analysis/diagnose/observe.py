"""Figures of one run distilled from its raw records: what the rules compare and the report prints.

Pure functions: process-tree and stack samples, trial records and heartbeats in, an Observation
out. Nothing here judges; the thresholds live in `thresholds` and the judging in `rules`.

A Ray run on a cluster whose node probes sent samples from two or more nodes is observed from
those nodes (`cluster.merge`: their Ray workers summed, capacity = the Ray CPUs they were given),
not from the driver's own process tree, which holds none of its trials.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.cluster import ClusterView, HostLoad, merge
from bench.analysis.diagnose.waits import ThreadWaitSite, stack_motion
from bench.records.schema import Heartbeat, RunRow, Sample, TreeSample, TrialRow

# Trial states whose start/end mark real work (a cancelled trial never ran: start == end, pid 0).
_RAN = ("complete", "pruned", "failed", "timeout", "crashed")
_ACTIVE_STATES = ("gil", "native", "waiting_gil")


@dataclass(frozen=True)
class StackStats:
    """Python thread states of one process over a run's stack samples, and the kernel's view of
    its working threads after each dump where it was measured (probes.gil)."""

    pid: int
    samples: int
    counts: dict[str, int]
    # Working-thread observations with a kernel window, and their sums: GIL-wait share, sleep
    # share, switches/s, syscall reads and reads that found the thread blocked on the GIL.
    waits: int = 0
    gil_wait_sum: float = 0.0
    sleep_sum: float = 0.0
    switches_sum: float = 0.0
    reads: int = 0
    gil_blocked: int = 0

    @property
    def active(self) -> int:
        return sum(self.counts.get(s, 0) for s in _ACTIVE_STATES)

    @property
    def active_mean(self) -> float:
        return self.active / self.samples if self.samples else 0.0

    @property
    def gil_wait_share(self) -> float | None:
        """Share of working threads' time spent waiting for the GIL: measured by the kernel where
        the samples carry its view, else the share of working threads py-spy saw waiting."""
        if self.waits:
            return self.gil_wait_sum / self.waits
        return self.counts.get("waiting_gil", 0) / self.active if self.active else None

    @property
    def gil_wait_source(self) -> str:
        return "kernel" if self.waits else "stacks"

    @property
    def sleep_mean(self) -> float | None:
        return self.sleep_sum / self.waits if self.waits else None

    @property
    def switches_mean(self) -> float | None:
        return self.switches_sum / self.waits if self.waits else None


@dataclass(frozen=True)
class Gap:
    """The longest stretch without a progress event, in seconds since the run started."""

    seconds: float
    start: float
    end: float


@dataclass(frozen=True)
class Observation:
    """One run's figures from samples, trials and heartbeats; None where the data is missing."""

    label: str
    usable_cores: int
    # process tree, over the work phase
    tree_samples: int = 0
    cpu_cores_mean: float | None = None
    cpu_cores_peak: float | None = None
    cpu_core_seconds: float | None = None
    busy_procs_peak: int = 0
    busy_children_peak: int = 0
    procs_seen: int = 0
    threads_peak_per_proc: int = 0
    threads_peak_total: int = 0
    runnable_threads_median: float | None = None
    runnable_threads_truncated: bool = False
    invol_per_core_s: float | None = None
    foreign_cores_mean: float | None = None
    busiest_pid: int | None = None
    busiest_cpu_pct: float | None = None
    # stacks
    stacks: tuple[StackStats, ...] = ()
    # trials and heartbeats
    inflight_peak: int = 0
    pid_inflight_peak: int = 0
    pid_inflight_pid: int | None = None
    trial_pids: int = 0
    trials_ran: int = 0
    trials_complete: int = 0
    median_trial_s: float | None = None
    dispatch_gap_s: float | None = None
    dispatch_gaps: int = 0
    longest_gap: Gap | None = None
    run_start: float | None = None
    work_window: tuple[float, float] | None = None
    notes: tuple[Sample, ...] = field(default=())
    # Ray nodes the process-tree figures are summed over (0: this machine's tree); then
    # usable_cores is their Ray CPUs and each host's load by others is in `hosts`, not `foreign_*`.
    nodes: int = 0
    hosts: tuple[HostLoad, ...] = ()
    # what limits the tree from outside (probes.tree.limits), over the work phase
    working_procs_median: float | None = None  # processes with a runnable thread
    runnable_by_proc: tuple[tuple[int, str, float], ...] = ()  # (pid, name, median runnable)
    pools: tuple[str, ...] = ()  # native thread-pool libraries the busiest processes loaded
    children_alive: int | None = None  # processes of the tree besides the root, last sample
    cpu_quota: float | None = None
    throttle_periods: int = 0
    throttled_periods: int = 0
    throttled_s: float = 0.0
    steal_share: float | None = None
    tree_seconds: float = 0.0
    # stacks across samples: whether any thread's frames changed (None: under two dumps of any
    # process), and where each thread of the last dumps waits
    stacks_moved: bool | None = None
    waits: tuple[ThreadWaitSite, ...] = ()

    @property
    def cpu_share(self) -> float | None:
        """Mean CPU use over the work phase as a share of the usable cores."""
        return None if self.cpu_cores_mean is None else self.cpu_cores_mean / self.usable_cores

    @property
    def foreign_share(self) -> float | None:
        """Share of the usable cores other processes kept busy during the work phase."""
        f = self.foreign_cores_mean
        return None if f is None else min(1.0, f / self.usable_cores)

    @property
    def idle_cores(self) -> float | None:
        """Usable cores neither this run nor anything else used, on average over the work phase."""
        if self.cpu_cores_mean is None:
            return None
        return max(0.0, self.usable_cores - self.cpu_cores_mean - (self.foreign_cores_mean or 0.0))

    @property
    def runnable_per_core(self) -> float | None:
        r = self.runnable_threads_median
        return None if r is None else r / self.usable_cores

    @property
    def core_s_per_trial(self) -> float | None:
        if self.cpu_core_seconds is None or not self.trials_complete:
            return None
        return self.cpu_core_seconds / self.trials_complete

    @property
    def main_stack(self) -> StackStats | None:
        """The process with the most active Python threads per stack sample."""
        return max(self.stacks, key=lambda s: (s.active_mean, s.samples), default=None)


# --- tree samples ---------------------------------------------------------------------------
def cpu_cores(sample: Mapping[str, Any]) -> float:
    """Cores busy in a tree sample, CPU of short-lived children the sample missed included."""
    cores = float(sample.get("cpu_pct_total") or 0.0) / 100.0
    interval = float(sample.get("interval") or 0.0)
    if interval > 0:
        cores += float(sample.get("unattributed_cpu_s") or 0.0) / interval
    return cores


def foreign_cores(sample: Mapping[str, Any]) -> float | None:
    """Cores busy machine-wide but not in the run's tree (other jobs, the probes themselves)."""
    per_core = sample.get("per_core")
    if not per_core:
        return None
    return max(0.0, sum(float(x) for x in per_core) / 100.0 - cpu_cores(sample))


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


def _tree_figures(tree: list[TreeSample], usable: int) -> dict[str, Any]:
    if not tree:
        return {}
    cores = [cpu_cores(s) for s in tree]
    runnable = [runnable_threads(s) for s in tree]
    # By (node, pid): merged cluster samples hold processes of several machines (node None here).
    pid_cpu: dict[tuple[Any, int], list[float]] = {}
    for s in tree:
        for p in s.get("procs") or []:
            pid_cpu.setdefault(_proc_key(p), []).append(float(p.get("cpu_pct") or 0))
    busiest = max(pid_cpu, key=lambda key: sum(pid_cpu[key]), default=None)
    seconds = sum(float(s.get("interval") or 0) for s in tree)
    invol = sum(int(s.get("ctx_invol_delta") or 0) for s in tree)
    # A live process always makes some voluntary switches; none at all means the kernel (some
    # sandboxes) does not count them, so the involuntary figure is unknown, not zero.
    counted = invol + sum(int(s.get("ctx_vol_delta") or 0) for s in tree) > 0
    foreign = [f for s in tree if (f := foreign_cores(s)) is not None]
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
        "busiest_pid": busiest[1] if busiest is not None else None,
        "busiest_cpu_pct": statistics.median(pid_cpu[busiest]) if busiest is not None else None,
    }


def _limits(tree: Sequence[TreeSample]) -> dict[str, Any]:
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


def _proc_key(p: Mapping[str, Any]) -> tuple[Any, int]:
    return p.get("node"), int(p.get("pid") or 0)


# --- stack samples --------------------------------------------------------------------------
def stack_stats(stacks: Iterable[Mapping[str, Any]]) -> tuple[StackStats, ...]:
    """Thread-state totals per process; counts come from the sample's `counts` or its threads."""
    per: dict[int, tuple[int, dict[str, int]]] = {}
    waits: dict[int, list[float]] = {}  # pid -> [n, gil_wait, sleep, switches, reads, gil_blocked]
    for s in stacks:
        counts = s.get("counts")
        if not isinstance(counts, dict):
            counts = {}
            for t in s.get("threads") or []:
                state = str(t.get("state") or "idle")
                counts[state] = counts.get(state, 0) + 1
        pid = int(s.get("pid") or 0)
        n, total = per.get(pid, (0, {}))
        for k, v in counts.items():
            total[k] = total.get(k, 0) + int(v or 0)
        per[pid] = (n + 1, total)
        w = waits.setdefault(pid, [0.0] * 6)
        for t in s.get("threads") or []:
            wait = t.get("wait")
            if t.get("state") not in _ACTIVE_STATES or not isinstance(wait, dict):
                continue
            w[0] += 1
            w[1] += float(wait.get("gil_wait") or 0.0)
            w[2] += float(wait.get("sleep") or 0.0)
            w[3] += float(wait.get("switches_s") or 0.0)
            w[4] += int(wait.get("reads") or 0)
            w[5] += int(wait.get("gil_blocked") or 0)
    out = []
    for pid, (n, total) in sorted(per.items()):
        w = waits[pid]
        out.append(StackStats(pid, n, total, int(w[0]), w[1], w[2], w[3], int(w[4]), int(w[5])))
    return tuple(out)


# --- trials and heartbeats ------------------------------------------------------------------
def _spans(
    trials: Iterable[TrialRow], heartbeats: Iterable[Heartbeat]
) -> list[tuple[float, float, int]]:
    """(start, end, pid) of every trial that ran: its record, else the span of its heartbeats."""
    spans: dict[tuple[Any, ...], tuple[float, float, int]] = {}
    for t in trials:
        if t.get("state") in _RAN and t.get("start") is not None and t.get("end") is not None:
            # A watched program may run several studies, each numbering its trials from 0.
            spans[("t", t.get("study"), t.get("number"))] = (
                float(t["start"]),
                float(t["end"]),
                int(t.get("pid") or 0),
            )
    beats: dict[Any, list[Heartbeat]] = {}
    for b in heartbeats:
        beats.setdefault(b.get("trial"), []).append(b)
    for number, bs in beats.items():
        if ("t", None, number) in spans:
            continue
        ts = [float(b["t"]) for b in bs if b.get("t") is not None]
        if ts:
            spans[("b", number)] = (min(ts), max(ts), int(bs[0].get("pid") or 0))
    return list(spans.values())


def peak_overlap(spans: Iterable[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end at t closes before a start at t opens)."""
    spans = list(spans)
    events = sorted(
        [(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1])
    )
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


def dispatch_gaps(trials: Iterable[TrialRow]) -> list[float]:
    """Idle time between consecutive trials of the same worker (one thread of one process)."""
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for t in trials:
        if (
            t.get("state") in _RAN
            and t.get("worker")
            and t.get("start") is not None
            and t.get("end") is not None
        ):
            by_worker.setdefault(str(t["worker"]), []).append((float(t["start"]), float(t["end"])))
    gaps: list[float] = []
    for spans in by_worker.values():
        spans.sort()
        gaps.extend(max(0.0, b[0] - a[1]) for a, b in zip(spans, spans[1:], strict=False))
    return gaps


def longest_gap(events: Iterable[float], start: float | None, end: float | None) -> Gap | None:
    """Longest stretch between progress events, the run's end included as a boundary.

    The stretch before the first event is start-up, a separate finding; a run with no event at
    all counts from its start.
    """
    ts = sorted(events)
    if not ts:
        if start is None or end is None:
            return None
        return Gap(end - start, 0.0, end - start)
    origin = start if start is not None else ts[0]
    points = ts + ([end] if end is not None and end > ts[-1] else [])
    best: Gap | None = None
    for a, b in zip(points, points[1:], strict=False):
        if best is None or b - a > best.seconds:
            best = Gap(b - a, a - origin, b - origin)
    return best or Gap(0.0, ts[0] - origin, ts[0] - origin)


def run_tree(samples: Sequence[Sample]) -> tuple[list[TreeSample], ClusterView | None]:
    """The process-tree samples that describe a run, oldest first: its nodes' workers merged when
    node probes on two or more Ray nodes sent samples (the cluster view comes with them), else the
    run's own tree samples."""
    cluster = merge(samples)
    if cluster is not None:
        return cast(list[TreeSample], cluster.samples), cluster
    tree = [cast(TreeSample, s) for s in samples if s.get("kind") == "tree"]
    tree.sort(key=lambda s: float(s.get("t") or 0))
    return tree, None


def observe(
    label: str,
    samples: Sequence[Sample],
    usable_cores: int,
    trials: Sequence[TrialRow] = (),
    heartbeats: Sequence[Heartbeat] = (),
    run_record: RunRow | None = None,
    notes: Sequence[Sample] = (),
) -> Observation:
    """All figures of one run; the work phase is first trial start to last trial end. With node
    samples from two or more Ray nodes the tree figures and usable cores are the cluster's."""
    tree, cluster = run_tree(samples)
    if cluster is not None:
        usable_cores = cluster.usable_cores
    spans = _spans(trials, heartbeats)
    window = (min(s for s, _, _ in spans), max(e for _, e, _ in spans)) if spans else None
    work = in_window(tree, window)
    figures = _tree_figures(work, usable_cores)
    figures.update(_limits(work))
    figures["procs_seen"] = len({_proc_key(p) for s in tree for p in s.get("procs") or []})
    if cluster is not None:
        figures["nodes"] = cluster.nodes
        figures["hosts"] = cluster.host_loads(float(s["t"]) for s in work)

    per_pid: dict[int, list[tuple[float, float]]] = {}
    for s, e, pid in spans:
        per_pid.setdefault(pid, []).append((s, e))
    pid_peaks = {pid: peak_overlap(v) for pid, v in per_pid.items()}
    top_pid = max(pid_peaks, key=lambda p: pid_peaks[p], default=None)
    ran = [t for t in trials if t.get("state") in _RAN]
    complete = [t for t in trials if t.get("state") in ("complete", "pruned")]
    durations = [
        float(t["end"]) - float(t["start"]) for t in complete if t.get("start") and t.get("end")
    ]
    gaps = dispatch_gaps(trials)

    rec = run_record or {}
    start = rec.get("start")
    if start is None:
        start = float(tree[0]["t"]) - float(tree[0].get("interval") or 0) if tree else None
    end = rec.get("end")
    if end is None and tree:
        end = float(tree[-1]["t"])
    events = [float(b["t"]) for b in heartbeats if b.get("t") is not None]
    events += [float(t[k]) for t in ran for k in ("start", "end") if t.get(k) is not None]

    stack_list = in_window([cast(TreeSample, s) for s in samples if s.get("kind") == "stack"], window)
    moved, sites = stack_motion(stack_list)
    return Observation(
        label=label,
        usable_cores=max(1, usable_cores),
        **figures,
        stacks=stack_stats(stack_list),
        stacks_moved=moved,
        waits=sites,
        inflight_peak=peak_overlap((s, e) for s, e, _ in spans),
        pid_inflight_peak=pid_peaks.get(top_pid, 0) if top_pid is not None else 0,
        pid_inflight_pid=top_pid,
        # islands runs one trial over W processes and lists them all in `pids`.
        trial_pids=len({pid for _, _, pid in spans if pid}
                       | {int(p) for t in trials for p in (t.get("pids") or []) if p}),
        trials_ran=len(ran),
        trials_complete=len(complete),
        median_trial_s=statistics.median(durations) if durations else None,
        dispatch_gap_s=statistics.median(gaps) if gaps else None,
        dispatch_gaps=len(gaps),
        # A run whose trials were not traced (a watched program that never imported Optuna, say)
        # has no progress events to miss: no gap in them says anything.
        longest_gap=None
        if rec.get("trials_traced") is False
        else longest_gap(
            events, None if start is None else float(start), None if end is None else float(end)
        ),
        run_start=None if start is None else float(start),
        work_window=window,
        notes=tuple(notes),
    )
