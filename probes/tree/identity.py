"""What a process is, by its name and command line: a Python interpreter, a Ray worker, a Ray agent."""

from __future__ import annotations

import os

import psutil

from probes.tree.proctable import descendants, scan_processes

_RAY_AGENTS = frozenset({"ray::DashboardAgent", "ray::RuntimeEnvAgent"})


def looks_python(name: str, cmdline: list[str]) -> bool:
    """A Python interpreter by name or argv[0] (Ray workers rename themselves `ray::…`)."""
    head = os.path.basename(cmdline[0]) if cmdline else ""
    return "python" in name.lower() or "python" in head.lower() or head.startswith("ray::")


def ray_worker_pids(root_pid: int, session_hint: str | None = None) -> list[int]:
    """Ray worker processes (`ray::…` or `default_worker.py`) whose raylet belongs to this root.

    A raylet belongs to the root when it descends from it, or, for a cluster started elsewhere
    (`ray start`, `--ray-address`), when its command line contains `session_hint` (e.g. the
    session directory name). When the root calls ray.init() locally, gcs_server and raylet are
    its children and the workers children of raylet (checked with Ray 2.60), so the tree sampler
    already sees them without this; it is needed for an external cluster, as `extra_pids_fn`.
    Ray's own agents (dashboard, runtime env) are left out.
    """
    table = scan_processes()
    tree = set(descendants(table, [root_pid]))

    def cmdline(pid: int) -> str:
        try:
            return " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            return ""

    raylets = [
        pid for pid, e in table.items()
        if e.name == "raylet"
        and (pid in tree or (session_hint is not None and session_hint in cmdline(pid)))
    ]
    workers = []
    for pid in descendants(table, raylets):
        if pid in raylets:
            continue
        if is_ray_worker(cmdline(pid)):
            workers.append(pid)
    return sorted(workers)


def is_ray_worker(cmd: str) -> bool:
    """A Ray worker by its command line: a `ray::…` title (`ray::IDLE`, `ray::run_trial`, an
    actor's class) or `default_worker.py` before it renames itself. Ray's own per-node agents
    (dashboard, runtime env) are not workers; the raylet, whose arguments name
    default_worker.py, must be ruled out by the caller (by name)."""
    if is_ray_agent(cmd):
        return False
    return "ray::" in cmd or "default_worker.py" in cmd or "/ray/_private/workers/" in cmd


def is_ray_agent(cmd: str) -> bool:
    """One of Ray's per-node agents (dashboard, runtime env), by its command line."""
    return cmd.split(" ", 1)[0] in _RAY_AGENTS
