"""The per-node Ray probes without a cluster: which processes count as workers, and the driver
side's life cycle against a stand-in for `ray` (samples tagged, a dead probe noted, every actor
killed at stop even when one fails)."""

from __future__ import annotations

from typing import Any

import pytest

from probes.ray_nodes import RayNodeProbes, node_workers

pytest.importorskip("ray")  # the scheduling strategy class comes from Ray itself

N1, N2, N3 = ("1" * 56, "2" * 56, "3" * 56)  # node ids are 28-byte hex


def test_node_workers_leave_out_raylet_agents_and_the_probe() -> None:
    sample = {"procs": [
        {"pid": 1, "name": "raylet", "cmd": "/x/raylet --python_worker_command=default_worker.py"},
        {"pid": 2, "name": "ray::IDLE", "cmd": "ray::IDLE"},
        {"pid": 3, "name": "python", "cmd": "python /x/default_worker.py --node-ip-address=1"},
        {"pid": 4, "name": "ray::DashboardA", "cmd": "ray::DashboardAgent"},
        {"pid": 5, "name": "ray::RuntimeEnv", "cmd": "ray::RuntimeEnvAgent"},
        {"pid": 6, "name": "ray::NodeProbe", "cmd": "ray::NodeProbe.drain"},
        {"pid": 7, "name": "ray::run_trial", "cmd": "ray::run_trial"},
    ]}
    assert node_workers(sample, probe_pid=6) == [2, 3, 7]


class Ref:
    def __init__(self, fn: Any) -> None:
        self.fn = fn


class Method:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def remote(self) -> Ref:
        return Ref(self.fn)


class Actor:
    def __init__(self, node: str, dead: bool) -> None:
        self.node, self.dead, self.calls = node, dead, 0
        self.drain = Method(self._drain)
        self.stop = Method(self._drain)

    def _drain(self) -> list[dict[str, Any]]:
        if self.dead:
            raise RuntimeError("The actor died unexpectedly")
        self.calls += 1
        return [{"kind": "node", "node_id": self.node, "n": self.calls}]


class FakeRay:
    """Just what RayNodeProbes calls: nodes, remote(...)(cls).options(...).remote, wait, get, kill."""

    def __init__(self, dead: set[str]) -> None:
        self.dead = dead
        self.actors: dict[str, Actor] = {}
        self.killed: list[str] = []

    def nodes(self) -> list[dict[str, Any]]:
        return [{"NodeID": n, "Alive": True, "NodeManagerAddress": "10.0.0.1",
                 "NodeManagerHostname": "h", "Resources": {"CPU": 1.0}} for n in (N1, N2)] + [
            {"NodeID": N3, "Alive": False}]

    def remote(self, **opts: Any) -> Any:
        assert opts["num_cpus"] == 0 and opts["max_restarts"] == 0
        fake = self

        class Cls:
            def __init__(self) -> None:
                self.opts: dict[str, Any] = {}

            def options(self, **o: Any) -> Any:
                self.opts = o
                return self

            def remote(self, interval: float, info: dict[str, Any]) -> Actor:
                strategy = self.opts["scheduling_strategy"]
                assert strategy.node_id == info["node_id"] and strategy.soft is False
                actor = Actor(info["node_id"], info["node_id"] in fake.dead)
                fake.actors[info["node_id"]] = actor
                return actor

        return lambda cls: Cls()

    def wait(self, refs: list[Ref], num_returns: int, timeout: float) -> tuple[list[Ref], list[Ref]]:
        return list(refs), []

    def get(self, ref: Ref) -> Any:
        return ref.fn()

    def kill(self, actor: Actor, no_restart: bool) -> None:
        assert no_restart
        self.killed.append(actor.node)
        if actor.dead:
            raise RuntimeError("already dead")


def test_driver_side_life_cycle() -> None:
    ray = FakeRay(dead={N2})
    out: list[dict[str, Any]] = []
    probes = RayNodeProbes(ray, out.append, pull_every=3600, tags={"run": "ray"}).start()
    assert sorted(probes.nodes) == [N1, N2]  # alive nodes only
    probes.pull()  # asks both
    probes.pull()  # collects N1's batch and asks again; N2 died -> a note, killed, given up
    probes.stop()
    probes.stop()  # idempotent
    assert sorted(ray.killed) == [N1, N2]  # every actor, although N2's kill raised
    samples = [r for r in out if r["kind"] == "node"]
    # pulled: batch 1; at stop, the drain still in flight (2), then what stop returned (3)
    assert [s["n"] for s in samples] == [1, 2, 3]
    assert all(s["run"] == "ray" and s["node_id"] == N1 for s in samples)
    notes = [r for r in out if r["kind"] == "note"]
    assert len(notes) == 1 and notes[0]["node_id"] == N2 and notes[0]["run"] == "ray"
    assert N2[:8] in notes[0]["message"] and "died" in notes[0]["message"]
