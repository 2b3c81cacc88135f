"""Per-node rows of a Ray run on a cluster: what each node ran and how busy it was, from the node
probes' samples (kind "node", see probes.ray_nodes) and the trial records' `node`. Pure functions.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.analysis.diagnose import thresholds as th
from bench.report import cells as c
from bench.trial.execute import CANCELLED, COMPLETE
from probes.ray_nodes import NODE_KIND

HEADER = (
    "node",
    "host (IP)",
    "Ray CPUs · usable cores",
    "trials run (complete)",
    "worker processes (seen · busy at once · ran trials)",
    "threads (peak: node's Ray processes · one worker)",
    "Ray processes' CPU (mean · peak, cores)",
    "node's cores busy (mean · peak)",
)


@dataclass(frozen=True)
class NodeRow:
    """One node's figures over the run (the probe's own process left out of every figure)."""

    node_id: str
    hostname: str
    ip: str
    ray_cpus: float | None
    cores: int | None  # usable cores the node's probe saw
    samples: int
    trials: int  # trials that ran there to an end (any state but cancelled)
    trials_complete: int
    trial_pids: int  # distinct worker processes that ran trials there
    workers_seen: int  # distinct Ray worker processes in the samples
    workers_busy_peak: int  # most workers at or above BUSY_PROCESS_MIN_PCT in one sample
    threads_peak: int  # most threads of the node's Ray processes in one sample
    threads_per_worker_peak: int
    ray_cpu_mean: float | None  # cores used by the node's Ray processes (1.0 = one core)
    ray_cpu_peak: float | None
    cores_busy_mean: float | None  # share of the node's cores busy, every process on the node
    cores_busy_peak: float | None


def rows(samples: Iterable[Mapping[str, Any]], trials: Iterable[Mapping[str, Any]]) -> list[NodeRow]:
    """One row per node seen in the node samples or the trial records, ordered by trials run
    (most first), then host and id."""
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for s in samples:
        if s.get("kind") == NODE_KIND and s.get("node_id"):
            by_node.setdefault(str(s["node_id"]), []).append(s)
    ran: dict[str, list[Mapping[str, Any]]] = {}
    for t in trials:
        if t.get("node") and t.get("state") != CANCELLED:
            ran.setdefault(str(t["node"]), []).append(t)
    out = [_row(node, by_node.get(node, []), ran.get(node, [])) for node in {**by_node, **ran}]
    out.sort(key=lambda r: (-r.trials, r.hostname, r.node_id))
    return out


def _row(node: str, samples: list[Mapping[str, Any]], trials: list[Mapping[str, Any]]) -> NodeRow:
    samples = sorted(samples, key=lambda s: s.get("t", 0.0))
    last = samples[-1] if samples else {}
    hosts = {str(t.get("host")) for t in trials if t.get("host")}
    seen: set[int] = set()
    busy_peak = threads_peak = per_worker_peak = 0
    ray_cpu: list[float] = []
    busy: list[float] = []
    for s in samples:
        probe = s.get("probe_pid")
        procs = [p for p in s.get("procs", []) if p.get("pid") != probe]
        workers = set(s.get("workers", [])) - {probe}
        seen |= workers
        in_workers = [p for p in procs if p.get("pid") in workers]
        busy_peak = max(busy_peak, sum(
            1 for p in in_workers if p.get("cpu_pct", 0.0) >= th.BUSY_PROCESS_MIN_PCT))
        threads_peak = max(threads_peak, sum(int(p.get("num_threads", 0)) for p in procs))
        per_worker_peak = max(per_worker_peak, *(int(p.get("num_threads", 0)) for p in in_workers), 0)
        ray_cpu.append(sum(float(p.get("cpu_pct", 0.0)) for p in procs) / 100.0)
        per_core = s.get("per_core") or []
        if per_core:
            busy.append(statistics.fmean(per_core) / 100.0)
    return NodeRow(
        node_id=node,
        hostname=str(last.get("hostname") or ", ".join(sorted(hosts)) or "?"),
        ip=str(last.get("node_ip") or "?"),
        ray_cpus=last.get("ray_cpus"),
        cores=last.get("usable_cores"),
        samples=len(samples),
        trials=len(trials),
        trials_complete=sum(1 for t in trials if t.get("state") == COMPLETE),
        trial_pids=len({t.get("pid") for t in trials if t.get("pid")}),
        workers_seen=len(seen),
        workers_busy_peak=busy_peak,
        threads_peak=threads_peak,
        threads_per_worker_peak=per_worker_peak,
        ray_cpu_mean=statistics.fmean(ray_cpu) if ray_cpu else None,
        ray_cpu_peak=max(ray_cpu) if ray_cpu else None,
        cores_busy_mean=statistics.fmean(busy) if busy else None,
        cores_busy_peak=max(busy) if busy else None,
    )


def without_node(trials: Iterable[Mapping[str, Any]]) -> int:
    """Trials that ran (not cancelled) but whose record names no node: lost before reporting."""
    return sum(1 for t in trials if not t.get("node") and t.get("state") != CANCELLED)


def _cpus(r: NodeRow) -> str:
    ray_cpus = c.NA if r.ray_cpus is None else f"{float(r.ray_cpus):g}"
    return f"{ray_cpus} · {c.NA if r.cores is None else r.cores}"


def render(rs: list[NodeRow], lost: int = 0) -> str:
    """The per-node table and how to read it."""
    body = []
    for r in rs:
        probed = r.samples > 0
        body.append([
            f"`{r.node_id[:8]}`",
            f"{c.md(r.hostname)} ({c.md(r.ip)})",
            _cpus(r),
            f"{r.trials} ({r.trials_complete})",
            f"{r.workers_seen} · {r.workers_busy_peak} · {r.trial_pids}" if probed
            else f"{c.NA} · {c.NA} · {r.trial_pids}",
            f"{r.threads_peak} · {r.threads_per_worker_peak}" if probed else c.NA,
            f"{c.num(r.ray_cpu_mean, 2)} · {c.num(r.ray_cpu_peak, 2)}" if probed else c.NA,
            f"{c.pct(r.cores_busy_mean)} · {c.pct(r.cores_busy_peak)}" if probed else c.NA,
        ])
    notes = [
        c.table(HEADER, body, right=(3,)),
        "",
        "One probe actor per node (no CPU slot) sampled the node's raylet and every process it "
        "started; its own process is left out. Worker processes: Ray workers in the samples · most "
        f"at ≥ {th.BUSY_PROCESS_MIN_PCT:.0f}% of a core in one sample · distinct pids in the "
        "node's trial records. Ray processes' CPU: raylet, agents and workers, in cores. Cores "
        "busy: every process on the node, 100% = all its cores. " + (
            "The matrix row above sums these nodes' worker processes and CPU (100% = their Ray "
            "CPUs)." if sum(1 for r in rs if r.samples) >= 2 else
            "The matrix row above is the run's process tree on this machine (the driver); on a "
            "cluster the workers are here."),
    ]
    if not all(r.samples for r in rs):
        notes.append("— : no probe sample from that node (see the probe notes).")
    if len({r.hostname for r in rs}) < len(rs):
        notes.append("Nodes on one host share its cores, so their *cores busy* figures are the "
                     "same machine's (a test cluster on one machine).")
    if lost:
        notes.append(f"{lost} trial(s) ended without naming a node (timed out or crashed before "
                     "reporting) and are in no row.")
    return "\n".join(notes)
