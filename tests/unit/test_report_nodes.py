"""Per-node rows of a Ray run on a cluster, from synthetic node samples and trial records: the
figures (probe left out, workers counted once, means and peaks) and when the report shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.analysis.diagnose import Recorded, analyse
from bench.report import build
from bench.report.markdown import render
from bench.report.nodes import render as render_nodes
from bench.report.nodes import rows, without_node
from tests.support import synthetic as S
from tests.support.nodes import PROBE, A, B, node_sample, proc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
def node_a_samples(run: str = "ray", t0: float = 0.0) -> list[dict[str, Any]]:
    # Listed out of time order on purpose: readers must not rely on file order.
    second = node_sample(A, t0 + 1.0, [
        proc(100, "raylet", 5, 30), proc(PROBE, "ray::NodeProbe", 50, 40),
        proc(101, "ray::run_trial", 95, 10), proc(104, "ray::run_trial", 81, 16),
        proc(103, "ray::DashboardAgent", 0, 20),
    ], [101, 104], [100, 100, 100, 20], run)
    first = node_sample(A, t0 + 0.5, [
        proc(100, "raylet", 5, 30), proc(PROBE, "ray::NodeProbe", 50, 40),
        proc(101, "ray::run_trial", 90, 10), proc(102, "ray::IDLE", 10, 12),
        proc(103, "ray::DashboardAgent", 0, 20),
    ], [101, 102, PROBE], [100, 50, 0, 50], run)  # a probe pid in `workers` is still left out
    return [second, first]


def trial(number: int, node: str | None, state: str = "complete", pid: int = 101) -> dict[str, Any]:
    return {"run": "ray", "number": number, "state": state, "node": node, "pid": pid, "host": "alpha"}


TRIALS = [
    trial(0, A), trial(1, A, "failed"), trial(2, A, pid=104),
    trial(3, B, pid=201),
    trial(4, None, "timeout", pid=0),  # lost before reporting: no node
    trial(5, None, "cancelled", pid=0),  # never ran: neither a row nor "lost"
    trial(6, A, "cancelled"),  # cancelled: not a trial the node ran
]


def test_node_figures_from_samples_and_trials() -> None:
    a, b = rows(node_a_samples(), TRIALS)
    assert (a.node_id, b.node_id) == (A, B)  # most trials first
    assert (a.trials, a.trials_complete, a.trial_pids) == (3, 2, 2)
    assert (a.hostname, a.ip, a.ray_cpus, a.cores, a.samples) == ("alpha", "10.0.0.1", 4.0, 4, 2)
    assert a.workers_seen == 3  # 101, 102, 104: the probe and the agent are not workers
    assert a.workers_busy_peak == 2  # second sample: 101 and 104 at >= 25 %
    assert a.threads_peak == 30 + 10 + 16 + 20  # second sample, probe's 40 left out
    assert a.threads_per_worker_peak == 16
    assert a.ray_cpu_mean == pytest.approx((1.05 + 1.81) / 2)  # probe's 50 % left out
    assert a.ray_cpu_peak == pytest.approx(1.81)
    assert a.cores_busy_mean == pytest.approx((0.5 + 0.8) / 2)
    assert a.cores_busy_peak == pytest.approx(0.8)
    # B ran a trial but its probe sent nothing: trial figures only.
    assert (b.trials, b.trials_complete, b.trial_pids, b.samples) == (1, 1, 1, 0)
    assert b.ray_cpu_mean is None and b.cores_busy_mean is None and b.workers_seen == 0
    assert without_node(TRIALS) == 1


def test_node_table_cells() -> None:
    text = render_nodes(rows(node_a_samples(), TRIALS), lost=1)
    line_a = next(x for x in text.splitlines() if x.startswith(f"| `{A[:8]}`"))
    cells = [c.strip() for c in line_a.strip("|").split("|")]
    assert cells[1:] == ["alpha (10.0.0.1)", "4 · 4", "3 (2)", "3 · 2 · 2", "76 · 16",
                         "1.43 · 1.81", "65% · 80%"]
    line_b = next(x for x in text.splitlines() if x.startswith(f"| `{B[:8]}`"))
    assert "— · — · 1" in line_b
    assert "1 trial(s) ended without naming a node" in text
    assert "no probe sample from that node" in text


def _report(tmp_path: Path, samples: list[dict[str, Any]], nodes: list[str | None]) -> str:
    sim = S.Sim()
    S.simulate(sim, "sequential", workers=1, trials=4)
    S.simulate(sim, "ray", start=20, workers=2, separate_pids=True, trials=4)
    for t, node in zip((t for t in sim.trials if t["run"] == "ray"), nodes, strict=True):
        t["node"] = node
    sim.samples += samples
    path = S.write(sim, tmp_path / "r", S.meta())
    return render(build(analyse(Recorded.load(path)), path))


def test_report_shows_nodes_of_a_run_that_spanned_two(tmp_path: Path) -> None:
    t0 = S.T0 + 20
    b = node_sample(B, t0 + 0.5, [proc(200, "raylet", 2, 30), proc(201, "ray::run_trial", 99, 9)],
                    [201], [100, 0, 0, 0])
    md = _report(tmp_path, [*node_a_samples(t0=t0), b], [A, A, B, A])
    section = md.split("### Ray nodes of `ray`", 1)[1].split("\n## ", 1)[0]
    assert f"| `{A[:8]}` | alpha (10.0.0.1) | 4 · 4 | 3 (3) |" in section
    assert f"| `{B[:8]}` | alpha (10.0.0.1) | 4 · 4 | 1 (1) |" in section
    assert "Nodes on one host share its cores" in section
    assert md.count("### Ray nodes of") == 1  # the sequential run has no nodes


@pytest.mark.parametrize("nodes", [[A, A, A, A], [None] * 4], ids=["one-node", "local-no-nodes"])
def test_no_node_section_for_one_node(tmp_path: Path, nodes: list[str | None]) -> None:
    t0 = S.T0 + 20
    samples = node_a_samples(t0=t0) if nodes[0] else []
    md = _report(tmp_path / "with", samples, nodes)
    assert "Ray nodes" not in md
    # Node samples and trial nodes change nothing else: the report reads as it did without them.
    plain = _report(tmp_path / "plain", [], [None] * 4)
    assert md.replace(str(tmp_path / "with"), "") == plain.replace(str(tmp_path / "plain"), "")
