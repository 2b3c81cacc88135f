"""`bench run --strategy ray --ray-address` on Ray's own two-node test cluster (two raylets on this
machine, one CPU each): trials run on both nodes, a probe actor per node samples that node's Ray
processes into samples.jsonl, the report shows both nodes, and nothing of the run outlives it.
The node probes on their own, driven from the test process: one killed, the other node goes on."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.analysis.diagnose import Recorded, analyse
from bench.cli import main
from bench.report.nodes import rows
from probes.ray_nodes import RayNodeProbes
from tests.support.processes import exempt_roots
from tests.support.runs import REPO

pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

# Command-line marks of the run's own processes: the driver, its trial tasks, the node probes.
RUN_MARKS = ("bench.run.child", "run_trial", "NodeProbe")
# How long Ray may take to end what a run left on the cluster (longest beside CPU hogs).
GONE_WAIT_S = 30.0


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Any]:
    """A head and one more node of one CPU each, shared by this module's tests, shut down (every
    process of theirs) at its end.

    Token authentication: conftest sets RAY_AUTH_MODE=token for the whole session (Ray >= 2.59);
    the nodes started here, the bench driver and a test that joins as the driver inherit it and
    read the same token (~/.ray/auth_token), so the cluster needs nothing more than the `ray start`
    head does."""
    from ray.cluster_utils import Cluster

    temp_dir = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths live there
    args: dict[str, Any] = {"num_cpus": 1, "temp_dir": temp_dir, "include_dashboard": False}
    before = {p.pid for p in psutil.Process().children()}
    daemons: set[int] = set()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        cluster = Cluster(initialize_head=True, head_node_args=args)
        try:
            cluster.add_node(**args)
            cluster.wait_for_nodes()
            # The nodes' daemons and the workers their raylets start outlive each test by design,
            # like the session head's: the per-test leftover check skips them, and each test
            # checks for its own processes (trials, probes) itself.
            daemons = {p.pid for p in psutil.Process().children()} - before
            exempt_roots.update(daemons)
            yield cluster
        finally:
            exempt_roots.difference_update(daemons)
            cluster.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _run_processes() -> list[str]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            if p.status() != psutil.STATUS_ZOMBIE and any(m in cmd for m in RUN_MARKS):
                out.append(f"{p.pid} {cmd[:100]}")
        except psutil.Error:
            continue
    return out


def test_ray_run_spans_both_nodes_with_a_probe_on_each(two_nodes: Any, bench_run: Any) -> None:
    node_ids = {n.node_id for n in two_nodes.list_all_nodes()}
    assert len(node_ids) == 2
    # 60 generations (~0.3 s a trial, not the tiny search's ~10 ms): the trials' workers must be
    # alive and busy across several probe samples for the per-node figures to be about trials.
    res = bench_run("ray", "--ray-address", two_nodes.address, "-g", "60", timeout=150)
    assert res.code == 0, res.stderr[-3000:]
    assert res.run["status"] == "ok", res.run

    # Every trial ran, and each names its node: both nodes ran trials (one CPU each, two in flight).
    assert sorted(res.states().values()) == ["complete"] * 4, res.states()
    ran_on = {t["node"] for t in res.trials}
    assert ran_on == node_ids, (ran_on, node_ids)
    assert all(t["host"] for t in res.trials)

    # Probe samples from both nodes, each rooted at its own node's raylet.
    samples = [s for s in _jsonl(res.path / "samples.jsonl") if s.get("run") == "ray"]
    node_samples = [s for s in samples if s.get("kind") == "node"]
    assert {s["node_id"] for s in node_samples} == node_ids
    roots = {s["node_id"]: s["root"] for s in node_samples}
    assert len(set(roots.values())) == 2
    assert all(psutil.Process(pid).name() == "raylet" for pid in roots.values())
    for node in node_ids:
        mine = [s for s in node_samples if s["node_id"] == node]
        assert len(mine) >= 3, len(mine)
        assert all(s["probe_pid"] not in s["workers"] for s in mine)
        assert len({len(s["per_core"]) for s in mine}) == 1  # every core of the machine, each time
        # The workers that ran this node's trials were seen there, and not on the other node.
        pids = {t["pid"] for t in res.trials if t["node"] == node}
        seen = {w for s in mine for w in s["workers"]}
        others = {w for s in node_samples if s["node_id"] != node for w in s["workers"]}
        assert pids & seen, (pids, seen)
        assert not pids & others, (pids, others)
    assert not [s for s in samples if s.get("kind") == "note" and s.get("probe") == "ray-nodes"]

    # The report, regenerated from the files, has one row per node, with the trials each ran.
    assert main(["report", str(res.path)]) == 0
    md = (res.path / "report.md").read_text()
    assert "### Ray nodes of `ray`" in md
    section = md.split("### Ray nodes of `ray`", 1)[1].split("\n## ", 1)[0]
    by_node = {r.node_id: r for r in rows(node_samples, res.trials)}
    for node in node_ids:
        line = next(x for x in section.splitlines() if x.startswith(f"| `{node[:8]}`"))
        n = sum(1 for t in res.trials if t["node"] == node)
        assert f"| {n} ({n}) |" in line, line
        assert by_node[node].workers_seen >= 1 and by_node[node].threads_peak > 0

    # The matrix row and the findings read from the nodes, not from the driver's idle tree: both
    # workers busy at once, CPU a share of the 2 Ray CPUs. (Whether UNDERSUBSCRIBED fires is not
    # asserted: both nodes, the driver and the cluster's daemons share this 2-core host, so a
    # 4-trial run can rightly be CONTENDED and under-used; tests/unit/test_diagnose_cluster.py
    # checks the driver's idle tree cannot fire it.)
    row = next(x for x in md.splitlines() if x.startswith("| `ray` |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    expected, busy, ran = (int(x) for x in cells[2].split("(")[0].split()[-5::2])
    assert (expected, ran) == (2, 2), row
    # Both workers busy in one sample: only where nothing else took the cores (on a loaded
    # machine each worker gets a fraction of one and may never reach "busy" in the same sample).
    assert busy >= 2 or "CONTENDED" in row, row
    assert cells[2].endswith("(2 nodes)"), row
    d = analyse(Recorded.load(res.path))
    assert (d.observations["ray"].nodes, d.observations["ray"].usable_cores) == (2, 2)
    assert d.processes_seen("ray") >= 2 or "CONTENDED" in row
    assert "summed over the 2 nodes' probe samples" in md

    # Nothing of the run outlives it: the driver, its trial workers and the probe actors are gone
    # while the cluster itself is still up.
    deadline = time.time() + GONE_WAIT_S
    while (left := _run_processes()) and time.time() < deadline:
        time.sleep(0.2)
    assert not left, left
    trial_pids = {t["pid"] for t in res.trials}
    probe_pids = {s["probe_pid"] for s in node_samples}
    alive = [p for p in trial_pids | probe_pids if psutil.pid_exists(p)
             and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, alive


def _node_probes_up(samples: Path) -> set[int]:
    """Probe pids once samples from two nodes are in the file, else an empty set."""
    if not samples.exists():
        return set()
    rows_ = [json.loads(x) for x in samples.read_text().splitlines() if x.strip()]
    nodes = {r["node_id"]: r["probe_pid"] for r in rows_ if r.get("kind") == "node"}
    return set(nodes.values()) if len(nodes) == 2 else set()


def _alive(pids: set[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            continue
    return out


def test_ctrl_c_or_a_killed_driver_leaves_no_probe_behind(two_nodes: Any, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the run's process group) stops the run and its probes; a driver killed
    with SIGKILL cannot clean up, and Ray ends the probe actors it owned."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    for case in ("ctrl-c", "driver-killed"):
        out = tmp_path / case
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench", "run", "--strategy", "ray", "--ray-address",
             two_nodes.address, "--preset", "smoke", "-n", "200", "-p", "32", "-g", "30", "-w", "2",
             "--sampler", "random", "--no-stacks", "--no-report", "-o", str(out), "--name", "r"],
            cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.time() + 60
            while not (probes := _node_probes_up(out / "r" / "samples.jsonl")):
                assert proc.poll() is None and time.time() < deadline, case
                time.sleep(0.2)
            if case == "ctrl-c":
                os.killpg(proc.pid, signal.SIGINT)
                assert proc.wait(timeout=20) == 128 + signal.SIGINT
            else:
                driver = next(p for p in psutil.Process(proc.pid).children()
                              if "bench.run.child" in " ".join(p.cmdline()))
                driver.kill()
                proc.wait(timeout=30)
            deadline = time.time() + GONE_WAIT_S
            while (left := _alive(probes)) and time.time() < deadline:
                time.sleep(0.2)
            assert not left, (case, left)
            # A killed driver's trial workers are Ray's to end once it sees the driver gone: give
            # them the same time (beside two CPU hogs one was still running just after the probes
            # had gone).
            while (rest := _run_processes()) and time.time() < deadline:
                time.sleep(0.2)
            assert not rest, (case, rest)
            runs = _jsonl(out / "r" / "runs.jsonl")
            assert runs[-1]["status"] == ("interrupted" if case == "ctrl-c" else "crashed"), runs[-1]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_for(what: str, ready: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert time.time() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.1)


def _probe_processes() -> dict[int, str]:
    """NodeProbe actor processes alive anywhere under this test process (both nodes' raylets are
    its children), pid -> command line."""
    out = {}
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            if "NodeProbe" in cmd and p.status() != psutil.STATUS_ZOMBIE:
                out[p.pid] = cmd[:100]
        except psutil.Error:
            continue
    return out


def test_node_probes_note_a_killed_probe_and_keep_the_other_node(two_nodes: Any) -> None:
    """RayNodeProbes driven from this process on the two nodes: samples from both, tagged; one
    node's probe process killed with SIGKILL gives one warning note naming that node, which is not
    probed again, while the other node keeps sending; stop() is idempotent and leaves no probe."""
    import ray

    from bench.strategies.ray_tasks import runtime_env

    node_ids = {n.node_id for n in two_nodes.list_all_nodes()}
    assert len(node_ids) == 2 and not ray.is_initialized()
    # ray.init points SIGTERM at sys.exit; pytest's own handling stays.
    sigterm = signal.getsignal(signal.SIGTERM)
    ray.init(address=two_nodes.address, log_to_driver=False, logging_level=logging.WARNING,
             runtime_env=runtime_env())
    signal.signal(signal.SIGTERM, sigterm)
    out: list[dict[str, Any]] = []  # appended to by the probes' pull thread
    probes = RayNodeProbes(ray, out.append, interval=0.2, pull_every=0.3, rescan_every=1.0,
                           tags={"run": "probed"})
    try:
        probes.start()
        assert set(probes.nodes) == node_ids

        def samples(node: str | None = None) -> list[dict[str, Any]]:
            return [r for r in list(out) if r["kind"] == "node" and node in (None, r["node_id"])]

        _wait_for("two pulled batches from each node",
                  lambda: all(len(samples(n)) >= 2 for n in node_ids))
        before = samples()
        assert {s["node_id"] for s in before} == node_ids
        assert all(s["run"] == "probed" for s in before)
        probe_pid = {s["node_id"]: s["probe_pid"] for s in before}
        assert all(s["probe_pid"] == probe_pid[s["node_id"]] for s in before)  # one probe a node
        assert len(set(probe_pid.values())) == 2
        assert not [r for r in out if r["kind"] == "note"]
        assert set(_probe_processes()) == set(probe_pid.values()), _probe_processes()

        dead = next(n for n in node_ids if n != two_nodes.head_node.node_id)
        alive = next(n for n in node_ids if n != dead)
        os.kill(probe_pid[dead], signal.SIGKILL)

        def notes() -> list[dict[str, Any]]:
            return [r for r in list(out) if r["kind"] == "note"]

        _wait_for("the note on the killed probe", notes)
        noted = notes()[0]["t"]
        # Samples from the other node taken well past a rescan (1 s) after the note: it keeps
        # sending, and the node whose probe died was not given a new one meanwhile.
        _wait_for("later samples from the other node",
                  lambda: any(s["t"] > noted + 1.5 for s in samples(alive)))
        assert probes.nodes == [alive]
        assert all(s["probe_pid"] == probe_pid[s["node_id"]] for s in samples())
        assert len(notes()) == 1, notes()
        note = notes()[0]
        assert (note["node_id"], note["run"], note["level"], note["probe"]) == (
            dead, "probed", "warning", "ray-nodes"), note
        assert dead[:8] in note["message"] and "died" in note["message"], note["message"]
        assert "\n" not in note["message"] and "\t" not in note["message"], note["message"]

        probes.stop()
        n = len(out)
        probes.stop()  # idempotent: nothing more pulled, nothing raised
        assert len(out) == n and probes.nodes == []
        assert len(notes()) == 1, notes()
        _wait_for("every probe process to end", lambda: not _probe_processes(), GONE_WAIT_S)
    finally:
        probes.stop()
        ray.shutdown()  # disconnects this driver; the module's cluster stays up
