"""Synthetic Ray node samples: the shape probes.ray_nodes writes, small enough to check by hand."""

from __future__ import annotations

from typing import Any

A, B = "a" * 56, "b" * 56
PROBE = 900


def proc(pid: int, name: str, cpu: float, threads: int) -> dict[str, Any]:
    return {"pid": pid, "name": name, "cmd": name, "cpu_pct": cpu, "num_threads": threads}


def node_sample(node: str, t: float, procs: list[dict[str, Any]], workers: list[int],
                per_core: list[float], run: str = "ray") -> dict[str, Any]:
    return {
        "kind": "node", "run": run, "t": t, "root": 100, "interval": 0.5, "node_id": node,
        "node_ip": "10.0.0.1", "hostname": "alpha", "ray_cpus": 4.0, "usable_cores": 4,
        "probe_pid": PROBE, "workers": workers, "per_core": per_core, "procs": procs,
        "n_procs": len(procs), "n_threads": sum(p["num_threads"] for p in procs),
        "cpu_pct_total": sum(p["cpu_pct"] for p in procs),
    }
