"""The sweep document (`sweep.json`, schema 2) as `bench sweep` builds it: one entry per strategy
with its runs' measured points, then the fits and predictions of `sweep.analyze` on them. Pure
functions over recorded data (a run's results directory), rewritten after every run so an
interrupted sweep keeps what it measured."""

from __future__ import annotations

import time
from typing import Any

from bench import __version__
from bench.analysis.scaling.sweep import SWEEP_KIND, SWEEP_SCHEMA_VERSION, ScalingAnalysis, analyze
from bench.records.rundir import RunDir

PLOT_FILE = "sweep.png"
MARKDOWN_FILE = "sweep.md"
# Below this mean trial time, sending a trial to a worker costs about as much as running it.
SHORT_TRIAL_S = 0.5


def new(config: dict[str, Any], labels: tuple[str, ...], counts: tuple[int, ...],
        order: list[tuple[str, int]], cores: tuple[int, ...], cores_source: str,
        argv: list[str]) -> dict[str, Any]:
    """An empty sweep document for these strategies and counts, in this run order."""
    return {
        "schema_version": SWEEP_SCHEMA_VERSION, "kind": SWEEP_KIND, "created": time.time(),
        "corebench_version": __version__, "command": list(argv),
        "strategies": list(labels), "workers": list(counts), "order": [list(o) for o in order],
        "config": {**config, "workers": None}, "cores": list(cores), "cores_source": cores_source,
        "status": "running", "plot": PLOT_FILE, "markdown": MARKDOWN_FILE,
        "sweeps": {lb: {"strategy": lb, "runs": []} for lb in labels},
    }


def point(rd: RunDir, label: str, n: int) -> dict[str, Any]:
    """What one (strategy, count) run measured, from its results directory."""
    from bench.analysis.summary import summarize

    trials = rd.trials(label)
    row = next((r for r in summarize(rd.runs(), trials) if r.label == label), None)
    done = [float(t["end"]) - float(t["start"]) for t in trials
            if t.get("state") == "complete" and t.get("end") and t.get("start")]
    if row is None:
        return {"workers": n, "dir": rd.path.name, "status": "missing",
                "reason": "the run left no record", "throughput": None, "wall": None}
    return {
        "workers": n, "dir": rd.path.name, "status": row.status, "reason": row.reason,
        "trials_done": row.trials_done, "trials_failed": row.trials_failed, "wall": row.wall,
        "work_wall": row.work_wall, "startup": row.startup, "throughput": row.throughput,
        "pids": row.pids, "threads": row.threads,
        "trial_mean_s": sum(done) / len(done) if done else None,
        "storage": row.storage, "storage_share": row.storage_share,
        "storage_per_trial_s": row.storage_per_trial,
        "finished": time.time(),
    }


def add(doc: dict[str, Any], label: str, measured: dict[str, Any], rd: RunDir) -> None:
    """Record one run's point (and, from the first run, the machine) and refit."""
    doc["sweeps"][label]["runs"].append(measured)
    if "machine" not in doc:
        meta = rd.meta()
        doc["machine"], doc["git"] = meta.get("machine"), meta.get("git")
    update(doc)


def analysis(doc: dict[str, Any], label: str) -> ScalingAnalysis:
    """The scaling analysis of one strategy's points in a sweep document."""
    runs = doc["sweeps"][label]["runs"]
    rows = [(int(r["workers"]), r.get("throughput"), r.get("wall")) for r in runs]
    usable = (doc.get("machine") or {}).get("usable_cores")
    return analyze(rows, cores=doc["cores"], usable_cores=int(usable) if usable else None)


def update(doc: dict[str, Any]) -> dict[str, ScalingAnalysis]:
    """Refit every strategy that has a point; the analyses by strategy."""
    out = {}
    for label, entry in doc["sweeps"].items():
        if not entry["runs"]:
            continue
        out[label] = analysis(doc, label)
        entry.update(out[label].to_dict())
    return out


def finish(doc: dict[str, Any], status: str) -> dict[str, ScalingAnalysis]:
    """The final fits, with the runs' warnings added to each strategy's notes."""
    doc["status"] = status
    analyses = update(doc)
    for label, entry in doc["sweeps"].items():
        if label in analyses:
            entry["notes"] = [*entry["notes"], *run_notes(entry)]
            entry["findings"] = [f.to_dict() for f in sweep_findings(label, entry)]
    return analyses


def sweep_findings(label: str, entry: dict[str, Any]) -> list[Any]:
    """Findings only a sweep can show: STORAGE_BOUND when storage time per trial grows with W."""
    from bench.analysis.diagnose.findings import storage_bound as sb

    ok = [r for r in entry["runs"] if r.get("status") == "ok"]
    points = [sb.SweepPoint(int(r["workers"]), r.get("storage_per_trial_s"), r.get("storage_share"),
                            r.get("throughput")) for r in ok]
    backend = next((str(r["storage"]) for r in ok if r.get("storage")), "storage")
    found = sb.sweep_rule(label, backend, points)
    return [] if found is None else [found]


def run_notes(entry: dict[str, Any]) -> list[str]:
    """Warnings from one strategy's runs: trials too short to measure scaling, thread counts that
    changed between points."""
    notes = []
    means = [r["trial_mean_s"] for r in entry["runs"] if r.get("trial_mean_s") is not None]
    if means and min(means) < SHORT_TRIAL_S:
        notes.append(
            f"trials take {min(means):.2f} s on average: per-trial dispatch and start-up, not the "
            "search, decide these speedups; sweep with larger --generations/--population (the "
            "default preset) before trusting the predictions"
        )
    threads = {r["workers"]: r.get("threads") for r in entry["runs"] if r.get("status") == "ok"}
    if len(set(threads.values())) > 1:
        per = ", ".join(f"{'default' if t is None else t} at {w}" for w, t in threads.items())
        notes.append(
            f"torch threads per worker differ across points ({per} workers): the speedup mixes "
            "worker scaling with the thread count; --threads 1 measures the workers alone"
        )
    return notes
