"""A Ray run on a cluster seen as one process tree: the per-node probes' samples (kind "node", see
probes.ray_nodes) merged, time bucket by time bucket, into tree samples of every node's Ray worker
processes, so the run's figures come from where its trials ran rather than from the driver.

How the merge reads the nodes (pure functions; `observe` uses it when two or more nodes sent
samples):

- Buckets: each node's samples are put on one clock of width `step` (the probes' sampling
  interval, the median `interval` of the node samples) counted from the first node sample; a
  node's sample lands in the nearest bucket (the later one wins a tie), and a bucket inside a
  node's sampled span that got no sample of that node takes its previous one (the rate it last
  showed), so a late or jittered probe does not read as an idle node.
- Processes: the Ray workers of each node's sample (`workers`), the node's probe left out as in
  the per-node table; the raylet and Ray's agents are not the run's work and are left out too.
  Each process carries its node id, since pids of different machines can be equal.
- CPU: the sum of those processes' CPU plus the CPU the nodes' samplers saw their trees use but
  could not attribute (workers that came and went between two samples).
- Capacity: the sum of the nodes' Ray CPUs (`ray_cpus`; the node's usable cores where a probe did
  not say). That is what Ray was given for this run, and what it schedules tasks on; a node's
  other cores are not the run's to use, and several test nodes on one host would count the
  host's cores once per node.
- Machine load (`per_core`) is not summed: nodes on one host report the same cores, and another
  host's load says nothing of this one's. `host_loads` gives each host's own figure instead.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from bench.records.schema import ProcRow, Sample, TreeSample
from probes.ray_nodes import NODE_KIND

# Sampling interval assumed when no node sample says (the probes' default).
DEFAULT_STEP_S = 0.5


@dataclass(frozen=True)
class HostLoad:
    """One host's load by processes outside its Ray nodes during the run's work phase."""

    host: str
    nodes: int  # Ray nodes of the run on this host
    cores: int  # the host's usable cores, as its probes saw them
    foreign_cores_mean: float | None  # machine-wide CPU minus its Ray nodes' processes

    @property
    def foreign_share(self) -> float | None:
        f = self.foreign_cores_mean
        return None if f is None else min(1.0, f / max(1, self.cores))


@dataclass(frozen=True)
class ClusterView:
    """A run's node samples as one tree: virtual tree samples, capacity and per-host load."""

    nodes: int
    capacity: float  # Ray CPUs summed over the nodes
    samples: list[TreeSample]  # virtual tree samples, oldest first
    buckets: dict[float, dict[str, TreeSample]] = field(default_factory=dict)

    @property
    def usable_cores(self) -> int:
        """The capacity as the whole cores an Observation counts in (at least one)."""
        return max(1, round(self.capacity))

    def host_loads(self, times: Iterable[float]) -> tuple[HostLoad, ...]:
        """Each host's load by others over the buckets at `times` (the work phase)."""
        per_host: dict[str, list[float]] = {}
        nodes: dict[str, set[str]] = {}
        cores: dict[str, int] = {}
        for t in times:
            by_host: dict[str, list[TreeSample]] = {}
            for node, s in self.buckets.get(t, {}).items():
                host = host_of(s)
                by_host.setdefault(host, []).append(s)
                nodes.setdefault(host, set()).add(node)
                cores[host] = max(cores.get(host, 0), int(s.get("usable_cores") or 0))
            for host, ss in by_host.items():
                machine = [sum(float(x) for x in s["per_core"]) / 100.0
                           for s in ss if s.get("per_core")]
                if not machine:
                    continue
                # Nodes on one host read the same cores: their mean is the host's use.
                ray = sum(_ray_cores(s) for s in ss)
                per_host.setdefault(host, []).append(max(0.0, statistics.fmean(machine) - ray))
        return tuple(
            HostLoad(
                host,
                len(nodes[host]),
                cores[host] or 1,
                statistics.fmean(per_host[host]) if per_host.get(host) else None,
            )
            for host in sorted(nodes)
        )


def host_of(sample: TreeSample) -> str:
    return str(sample.get("hostname") or sample.get("node_ip") or sample.get("node_id") or "?")


def _probe_left_out(sample: TreeSample) -> list[ProcRow]:
    probe = sample.get("probe_pid")
    return [p for p in sample.get("procs") or [] if p.get("pid") != probe]


def _ray_cores(sample: TreeSample) -> float:
    """Cores the node's Ray processes used (raylet, agents, workers; not the probe)."""
    cores = sum(float(p.get("cpu_pct") or 0.0) for p in _probe_left_out(sample)) / 100.0
    interval = float(sample.get("interval") or 0.0)
    if interval > 0:
        cores += float(sample.get("unattributed_cpu_s") or 0.0) / interval
    return cores


def worker_procs(sample: TreeSample) -> list[ProcRow]:
    """The Ray worker processes of one node sample, its probe left out."""
    workers = set(sample.get("workers") or []) - {sample.get("probe_pid")}
    return [p for p in _probe_left_out(sample) if p.get("pid") in workers]


def node_samples(samples: Iterable[Sample]) -> dict[str, list[TreeSample]]:
    """Node samples by node id, oldest first."""
    out: dict[str, list[TreeSample]] = {}
    for s in samples:
        if s.get("kind") != NODE_KIND:
            continue
        node = cast(TreeSample, s)  # records.schema checked a "node" sample as a tree sample
        if node.get("node_id") and node.get("t") is not None:
            out.setdefault(str(node["node_id"]), []).append(node)
    for rows in out.values():
        rows.sort(key=lambda s: float(s["t"]))
    return out


def _step(by_node: Mapping[str, list[TreeSample]]) -> float:
    intervals = [float(s.get("interval") or 0) for rows in by_node.values() for s in rows]
    intervals = [i for i in intervals if i > 0]
    return statistics.median(intervals) if intervals else DEFAULT_STEP_S


def _virtual(t: float, step: float, group: Mapping[str, TreeSample], cores: int) -> TreeSample:
    """One tree sample (probes.tree schema, no `per_core`) of the bucket's nodes' workers."""
    procs: list[ProcRow] = [
        {**p, "is_root": False, "node": node}
        for node, s in sorted(group.items())
        for p in worker_procs(s)
    ]
    unattributed = sum(float(s.get("unattributed_cpu_s") or 0.0) * step
                       / (float(s.get("interval") or 0.0) or step) for s in group.values())
    return {
        "kind": "tree",
        "t": t,
        "interval": step,
        "nodes": len(group),
        "usable_cores": cores,
        "n_procs": len(procs),
        "n_threads": sum(int(p.get("num_threads") or 0) for p in procs),
        "cpu_pct_total": sum(float(p.get("cpu_pct") or 0.0) for p in procs),
        "unattributed_cpu_s": unattributed,
        "ctx_invol_delta": sum(int(p.get("ctx_invol_delta") or 0) for p in procs),
        "ctx_vol_delta": sum(int(p.get("ctx_vol_delta") or 0) for p in procs),
        "procs": procs,
    }


def merge(samples: Sequence[Sample]) -> ClusterView | None:
    """The run's node samples as one tree, or None when fewer than two nodes sent samples (one
    node, or a local run: the driver's own tree samples already describe it)."""
    by_node = node_samples(samples)
    if len(by_node) < 2:
        return None
    step = _step(by_node)
    t0 = min(rows[0]["t"] for rows in by_node.values())
    buckets: dict[int, dict[str, TreeSample]] = {}
    capacity = 0.0
    for node, rows in by_node.items():
        last = rows[-1]
        ray_cpus = last.get("ray_cpus")
        capacity += float(ray_cpus if ray_cpus is not None else last.get("usable_cores") or 0)
        slots: dict[int, TreeSample] = {}
        for s in rows:
            slots[round((float(s["t"]) - t0) / step)] = s  # oldest first: the later one wins
        held = slots[min(slots)]
        for k in range(min(slots), max(slots) + 1):
            held = slots.get(k, held)
            buckets.setdefault(k, {})[node] = held
    cores = max(1, round(capacity))
    times = {k: float(t0) + k * step for k in buckets}
    return ClusterView(
        nodes=len(by_node),
        capacity=capacity,
        samples=[_virtual(times[k], step, buckets[k], cores) for k in sorted(buckets)],
        buckets={times[k]: group for k, group in buckets.items()},
    )
