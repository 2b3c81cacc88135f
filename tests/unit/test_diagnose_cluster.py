"""A Ray run on a cluster diagnosed from its nodes: node probe samples merged into one tree (workers
summed, probes/raylets/agents left out, capacity = the nodes' Ray CPUs), CONTENDED judged per host,
and no finding drawn from the driver's own idle tree; runs with one node or none unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.analysis.diagnose import Recorded, analyse
from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose.cluster import merge
from bench.analysis.diagnose.findings import RunContext, gil_bound
from bench.analysis.diagnose.observe import Observation, StackStats, observe
from bench.report import build
from bench.report.markdown import render
from bench.report.matrix import rows as matrix_rows
from tests.support import synthetic
from tests.support.nodes import PROBE, A, B, node_sample, proc

STEP = 0.5


def node(n: str, t: float, *, host: str, cpu: float = 95.0, others: float = 0.0,
         ray_cpus: float = 2.0, cores: int = 4, probe_cpu: float = 3.0,
         run: str = "ray") -> dict[str, Any]:
    """One node sample: raylet, probe, agent and two workers (pids 101, 102 on every node), the
    host's cores busy with them plus `others` cores of processes outside Ray."""
    procs = [proc(100, "raylet", 5.0, 30), proc(PROBE, "ray::NodeProbe", probe_cpu, 40),
             proc(103, "ray::DashboardAgent", 1.0, 20),
             proc(101, "ray::run_trial", cpu, 10), proc(102, "ray::run_trial", cpu, 12)]
    busy = sum(p["cpu_pct"] for p in procs) + 100.0 * others
    s = node_sample(n, t, procs, [101, 102], [min(100.0, busy / cores)] * cores, run)
    return {**s, "hostname": host, "ray_cpus": ray_cpus, "usable_cores": cores}


def cluster(t0: float, t1: float, hosts: tuple[str, str] = ("alpha", "beta"),
            **kw: Any) -> list[dict[str, Any]]:
    """Samples of nodes A and B every STEP s from t0 to t1, B's clock 0.2 s behind A's."""
    out = []
    k = 1
    while t0 + k * STEP <= t1:
        out.append(node(A, t0 + k * STEP, host=hosts[0], **kw))
        out.append(node(B, t0 + k * STEP + 0.2, host=hosts[1], **kw))
        k += 1
    return out


def test_merged_observation_sums_the_nodes_workers() -> None:
    samples = cluster(0.0, 5.0)
    del samples[5]  # one of B's samples lost: the bucket keeps B's previous one
    obs = observe("ray", samples, usable_cores=2)  # the driver machine's 2 cores are not used
    assert (obs.nodes, obs.usable_cores) == (2, 4)  # 2 + 2 Ray CPUs
    assert obs.tree_samples == 10  # one per bucket, B's gap filled
    assert obs.busy_procs_peak == obs.busy_children_peak == 4  # 2 workers on each node
    assert obs.procs_seen == 4  # same pids on two nodes are four processes
    assert obs.cpu_cores_mean == pytest.approx(3.8)  # probes, raylets and agents left out
    assert obs.cpu_share == pytest.approx(0.95)
    assert obs.threads_peak_per_proc == 12 and obs.threads_peak_total == 44
    assert obs.busiest_cpu_pct == pytest.approx(95.0)
    assert obs.foreign_cores_mean is None  # no machine-wide load summed over hosts
    assert obs.idle_cores == pytest.approx(0.2)
    assert [(h.host, h.nodes, h.cores) for h in obs.hosts] == [("alpha", 1, 4), ("beta", 1, 4)]
    # Each host's machine minus its node's Ray processes: the probe's 3 % is the only other load.
    assert [h.foreign_cores_mean for h in obs.hosts] == [pytest.approx(0.03)] * 2


def test_nodes_on_one_host_count_its_cores_once() -> None:
    obs = observe("ray", cluster(0.0, 5.0, hosts=("alpha", "alpha"), cores=4), 4)
    (host,) = obs.hosts
    assert (host.host, host.nodes, host.cores) == ("alpha", 2, 4)
    # Node samples read the same machine: its use minus both nodes' Ray processes, not minus one.
    assert host.foreign_share is not None and host.foreign_share < 0.25


def test_one_node_or_none_is_no_cluster() -> None:
    assert merge(cluster(0.0, 2.0)[::2]) is None  # node A only
    assert merge([]) is None
    obs = observe("ray", cluster(0.0, 2.0)[::2], usable_cores=2)
    assert obs.nodes == 0 and obs.tree_samples == 0 and obs.hosts == ()


def _recorded(driver_load: float, nodes: list[dict[str, Any]]) -> Recorded:
    """A sequential baseline and a 4-worker ray run whose driver tree is idle; the driver
    machine's cores are `driver_load` busy (its own nodes' workers, or nothing)."""
    S = synthetic
    sim = S.Sim()
    S.simulate(sim, "sequential", trials=4, trial_s=2.0, cores=4)
    S.simulate(sim, "ray", start=20, workers=4, separate_pids=True, trials=8, trial_s=2.0,
               proc_cpu=0.0, cores=4)
    for s in sim.samples:
        if s["run"] == "ray" and s["kind"] == "tree":  # the driver alone: workers are elsewhere
            s["procs"] = [p for p in s["procs"] if p["is_root"]]
            s["cpu_pct_total"] = sum(p["cpu_pct"] for p in s["procs"])
            s["per_core"] = [100.0 * driver_load] * 4
    for i, t in enumerate(x for x in sim.trials if x["run"] == "ray"):
        t["node"] = (A, B)[i % 2]
    sim.samples += nodes
    return Recorded.from_records(S.meta(cores=4, workers=4), sim.runs, sim.trials, sim.samples,
                                 sim.heartbeats)


@pytest.mark.parametrize(("driver_load", "driver_finding"),
                         [(0.01, F.UNDERSUBSCRIBED), (0.96, F.CONTENDED)],
                         ids=["driver-machine-idle", "driver-on-a-busy-node-host"])
def test_driver_tree_does_not_decide_a_cluster_run(driver_load: float,
                                                   driver_finding: str) -> None:
    t0 = synthetic.T0 + 20
    # Without node samples the driver's idle tree is all there is, and it misleads.
    alone = analyse(_recorded(driver_load, []))
    assert driver_finding in [f.code for f in alone.findings["ray"]]
    assert alone.processes_seen("ray") == 0

    d = analyse(_recorded(driver_load, cluster(t0, t0 + 9.0)))
    codes = [f.code for f in d.findings["ray"]]
    assert F.UNDERSUBSCRIBED not in codes and F.CONTENDED not in codes, codes
    obs = d.observations["ray"]
    assert d.processes_seen("ray") == 4
    assert obs.cpu_share == pytest.approx(0.95)
    assert obs.usable_cores == 4 and obs.nodes == 2
    # The sequential baseline (no node samples) reads as before.
    assert d.observations["sequential"].nodes == 0
    assert d.observations["sequential"].cpu_share == alone.observations["sequential"].cpu_share


def test_contended_names_the_busy_host() -> None:
    t0 = synthetic.T0 + 20
    samples = [node(A, t, host="alpha") for t in (t0 + k * STEP for k in range(1, 19))]
    samples += [node(B, t + 0.1, host="beta", others=2.0) for t in (t0 + k * STEP
                                                                  for k in range(1, 19))]
    d = analyse(_recorded(0.01, samples))
    (f,) = [f for f in d.findings["ray"] if f.code == F.CONTENDED]
    assert f.evidence["host"] == "beta" and f.evidence["usable_cores"] == 4
    assert f.evidence["foreign_cores_mean"] == pytest.approx(2.03)
    assert f.evidence["hosts"] == {"alpha": pytest.approx(0.01, abs=0.01), "beta": 0.51}
    assert "host beta's 4 cores" in f.explanation and "beta" in f.action


def test_gil_bound_is_not_judged_from_the_driver_of_a_cluster_run() -> None:
    main = StackStats(1000, 20, {"gil": 20, "waiting_gil": 40})
    kw: dict[str, Any] = {"label": "ray", "usable_cores": 4, "stacks": (main,),
                          "busiest_cpu_pct": 100.0}
    ctx = RunContext("ray", "ray", 4)
    assert gil_bound.rule(Observation(**kw), ctx) is not None  # the same figures on one machine
    assert gil_bound.rule(Observation(**kw, nodes=2), ctx) is None


def _written_cluster_run(tmp_path: Path) -> Path:
    """The 2-node ray run of `_recorded` (driver idle) saved as a results directory."""
    S = synthetic
    t0 = S.T0 + 20
    rec = _recorded(0.01, cluster(t0, t0 + 9.0))
    return S.write(S.Sim(rec.runs.values(), [t for v in rec.trials.values() for t in v],
                         [s for v in rec.samples.values() for s in v],
                         [h for v in rec.heartbeats.values() for h in v]),
                   tmp_path / "r", S.meta(cores=4, workers=4))


def test_matrix_row_reads_from_the_cluster(tmp_path: Path) -> None:
    path = _written_cluster_run(tmp_path)
    d = analyse(Recorded.load(path))
    row = next(r for r in matrix_rows(d) if r.label == "ray")
    assert (row.processes_seen, row.nodes, row.capacity) == (4, 2, 4)
    assert row.cpu_share == pytest.approx(0.95)
    md = render(build(d, path))
    line = next(x for x in md.splitlines() if x.startswith("| `ray` |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2] == "✅ 4 · 4 · 4 (2 nodes)"
    assert cells[4].startswith("✅ 95% ·")
    assert "summed over the 2 nodes' probe samples" in md
    assert "share of the 4 CPUs Ray was given" in md
    assert "The matrix row above sums these nodes' worker processes" in md
    seq = next(x for x in md.splitlines() if x.startswith("| `sequential` |"))
    assert "nodes" not in seq


def test_plots_draw_a_cluster_run_from_its_nodes(tmp_path: Path) -> None:
    from bench.report import plots

    d = analyse(Recorded.load(_written_cluster_run(tmp_path)))
    tree = plots._trees(d)["ray"]
    # The merged nodes' workers (4 per bucket at 95% each), not the driver's idle tree
    assert tree and all(s.get("nodes") == 2 for s in tree)
    assert max(plots.cpu_cores(s) for s in tree) == pytest.approx(3.8)
    assert plots._capacity(d, "ray") == (4, "4 Ray CPUs on 2 nodes")
    assert plots._capacity(d, "sequential")[1] == f"{d.recorded.usable_cores} cores"
    assert plots.cpu_plot(d, tmp_path / "cpu.png") is not None
    assert plots.threads_plot(d, tmp_path / "threads.png") is not None
    assert (tmp_path / "cpu.png").read_bytes()[:4] == b"\x89PNG"
