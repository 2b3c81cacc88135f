"""Which processes of a node's Ray tree the per-node probes count as workers. The probes' life
cycle on a real cluster (a probe killed, the other node going on, stop) is in
tests/integration/test_ray_cluster.py."""

from __future__ import annotations

from probes.ray_nodes import node_workers


def test_node_workers_leave_out_raylet_agents_and_the_probe() -> None:
    sample = {"procs": [
        {"pid": 1, "name": "raylet", "cmd": "/x/raylet --python_worker_command=default_worker.py"},
        {"pid": 2, "name": "ray::IDLE", "cmd": "ray::IDLE"},
        {"pid": 3, "name": "python", "cmd": "python /x/default_worker.py --node-ip-address=1"},
        {"pid": 4, "name": "ray::DashboardA", "cmd": "ray::DashboardAgent"},
        {"pid": 5, "name": "ray::RuntimeEnv", "cmd": "ray::RuntimeEnvAgent"},
        {"pid": 6, "name": "ray::NodeProbe", "cmd": "ray::NodeProbe.drain"},
        {"pid": 7, "name": "ray::run_trial", "cmd": "ray::run_trial"},
        # a worker still starting up, its command line cut short by the sampler
        {"pid": 8, "name": "python",
         "cmd": "/root/.pyenv/versions/3.11.7/bin/python /root/.pyenv/versions/3.11.7/lib/python3.11/…"},
        {"pid": 9, "name": "python", "cmd": "/venv/bin/python /venv/lib/site-packages/ray/_private/workers/…"},
    ]}
    assert node_workers(sample, probe_pid=6) == [2, 3, 7, 8, 9]
