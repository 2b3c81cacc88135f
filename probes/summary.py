"""Summary of recorded probe samples: how many processes and threads, how much of the machine,
what the Python threads were doing. Pure function over sample dicts (tree, stack, note)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from probes.threadstate import STATES

BUSIEST_FRAMES = 5


def summarize(samples: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Peak/median processes, peak threads (total and per process), mean CPU % of capacity,
    GIL-state fractions, busiest top frames (of threads not idle) and warning notes."""
    trees: list[dict[str, Any]] = []
    stacks: list[dict[str, Any]] = []
    notes: list[str] = []
    for s in samples:
        kind = s.get("kind")
        if kind == "tree":
            trees.append(s)
        elif kind == "stack":
            stacks.append(s)
        elif kind == "note" and s.get("level") in ("warning", "error"):
            notes.append(str(s.get("message", "")))

    out: dict[str, Any] = {"tree_samples": len(trees), "stack_samples": len(stacks), "notes": notes}
    if trees:
        procs = [t["n_procs"] for t in trees]
        threads = [t["n_threads"] for t in trees]
        per_proc = [max((p["num_threads"] for p in t["procs"]), default=0) for t in trees]
        cpu = [t["cpu_pct_total"] for t in trees]
        of_cap = [
            100.0 * t["cpu_pct_total"] / t["capacity_pct"] for t in trees if t["capacity_pct"]
        ]
        out.update({
            "duration_s": round(trees[-1]["t"] - trees[0]["t"] + trees[0].get("interval", 0.0), 2),
            "usable_cores": trees[-1]["usable_cores"],
            "capacity_pct": trees[-1]["capacity_pct"],
            "procs_peak": max(procs),
            "procs_median": statistics.median(procs),
            "threads_peak": max(threads),
            "threads_per_proc_peak": max(per_proc),
            "cpu_pct_mean": round(statistics.fmean(cpu), 1),
            "cpu_pct_peak": round(max(cpu), 1),
            "cpu_of_capacity_pct_mean": round(statistics.fmean(of_cap), 1) if of_cap else 0.0,
            "cores_busy_mean": round(statistics.fmean(cpu) / 100.0, 2),
            "unattributed_cpu_s": round(sum(t.get("unattributed_cpu_s", 0.0) for t in trees), 3),
            "ctx_invol_per_s": round(
                sum(t.get("ctx_invol_delta", 0) for t in trees)
                / max(1e-9, sum(t.get("interval", 0.0) for t in trees)), 1
            ),
        })
    counts: Counter[str] = Counter()
    frames: Counter[str] = Counter()
    waits: list[dict[str, Any]] = []
    for s in stacks:
        for th in s.get("threads", []):
            counts[th.get("state", "idle")] += 1
            if th.get("state") != "idle" and th.get("frames"):
                frames[th["frames"][0]] += 1
            if th.get("state") != "idle" and isinstance(th.get("wait"), dict):
                waits.append(th["wait"])
    if waits:  # the kernel's view of the working threads (probes.gil)
        out["gil_wait_mean"] = round(sum(w.get("gil_wait", 0.0) for w in waits) / len(waits), 3)
        out["switches_s_mean"] = round(sum(w.get("switches_s", 0) for w in waits) / len(waits))
        out["gil_blocked_reads"] = sum(int(w.get("gil_blocked", 0)) for w in waits)
        out["syscall_reads"] = sum(int(w.get("reads", 0)) for w in waits)
    observed = sum(counts.values())
    out["thread_states"] = {k: counts.get(k, 0) for k in STATES}
    out["thread_state_fractions"] = {
        k: round(counts.get(k, 0) / observed, 3) if observed else 0.0 for k in STATES
    }
    busy = sum(frames.values())
    out["busiest_frames"] = [
        {"frame": f, "count": n, "fraction": round(n / busy, 3)}
        for f, n in frames.most_common(BUSIEST_FRAMES)
    ]
    return out
