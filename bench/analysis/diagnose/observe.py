"""Figures of one run distilled from its raw records: what the rules compare and the report prints.

Pure functions: process-tree and stack samples, trial records and heartbeats in, an Observation
out. Nothing here judges; the thresholds live in `thresholds` and the judging in `findings/`. The
figures come from `tree_figures` (process-tree samples), `stack_figures` (stacks) and `timeline`
(trials and heartbeats); their names are re-exported here.

A Ray run on a cluster whose node probes sent samples from two or more nodes is observed from
those nodes (`cluster.merge`: their Ray workers summed, capacity = the Ray CPUs they were given),
not from the driver's own process tree, which holds none of its trials.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from bench.analysis.diagnose.cluster import HostLoad
from bench.analysis.diagnose.stack_figures import StackStats, stack_stats
from bench.analysis.diagnose.timeline import RAN_STATES, Gap, dispatch_gaps, longest_gap, peak_overlap, trial_spans
from bench.analysis.diagnose.tree_figures import (
    busy_procs,
    cpu_cores,
    foreign_cores,
    in_window,
    limits,
    proc_key,
    run_tree,
    runnable_threads,
    tree_sample_figures,
)
from bench.analysis.diagnose.waits import ThreadWaitSite, stack_motion
from bench.records.schema import Heartbeat, RunRow, Sample, TreeSample, TrialRow

__all__ = [
    "Gap", "Observation", "StackStats", "busy_procs", "cpu_cores", "dispatch_gaps", "foreign_cores",
    "in_window", "longest_gap", "observe", "peak_overlap", "run_tree", "runnable_threads", "stack_stats",
]



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
    observer_cores_mean: float | None = None  # the probes' own (not counted as other jobs')
    busiest_pid: int | None = None
    busiest_cpu_pct: float | None = None
    # Share of the tree's CPU done at a positive niceness, and the niceness that did most of it
    # (Ray runs its workers at 15): such processes yield the cores to any job at nice 0.
    niced_cpu_share: float | None = None
    niced_nice: int | None = None
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
        others = (self.foreign_cores_mean or 0.0) + (self.observer_cores_mean or 0.0)
        return max(0.0, self.usable_cores - self.cpu_cores_mean - others)

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
    spans = trial_spans(trials, heartbeats)
    window = (min(s for s, _, _ in spans), max(e for _, e, _ in spans)) if spans else None
    work = in_window(tree, window)
    figures = tree_sample_figures(work, usable_cores)
    figures.update(limits(work))
    figures["procs_seen"] = len({proc_key(p) for s in tree for p in s.get("procs") or []})
    if cluster is not None:
        figures["nodes"] = cluster.nodes
        figures["hosts"] = cluster.host_loads(float(s["t"]) for s in work)

    per_pid: dict[int, list[tuple[float, float]]] = {}
    for s, e, pid in spans:
        per_pid.setdefault(pid, []).append((s, e))
    pid_peaks = {pid: peak_overlap(v) for pid, v in per_pid.items()}
    top_pid = max(pid_peaks, key=lambda p: pid_peaks[p], default=None)
    ran = [t for t in trials if t.get("state") in RAN_STATES]
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
