"""Orchestration of `bench sweep`: one or more strategies at several worker counts, same trials and
seeds, into one sweep directory, with a scaling fit per strategy.

    <sweep>/<strategy>-w1, -w2, ...   one results directory per (strategy, worker count)
    <sweep>/sweep.json                 per strategy: points, Amdahl and USL fits, predictions; the
                                       machine (rewritten after each run, so an interrupted sweep
                                       keeps what it measured)
    <sweep>/sweep.png, sweep.md        the same for a person (bench.report.sweep)

Worker counts are interleaved across strategies (count 1 of every strategy, then count 2 in the
reverse order, ...), so drift of the machine over the sweep hits every strategy alike instead of
landing on whichever ran last.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

from bench import __version__
from bench.analysis.cost.catalog import catalog_cores
from bench.analysis.scaling import SWEEP_FILE, SWEEP_KIND, SWEEP_SCHEMA_VERSION, ScalingAnalysis, analyze
from bench.config import Config
from bench.config.labels import base_name
from bench.errors import Interrupted, StrategyUnavailable
from bench.records.rundir import RunDir, write_json_atomic

PLOT_FILE = "sweep.png"
MARKDOWN_FILE = "sweep.md"
# Below this mean trial time, sending a trial to a worker costs about as much as running it.
SHORT_TRIAL_S = 0.5


def interleave(labels: tuple[str, ...], counts: tuple[int, ...]) -> list[tuple[str, int]]:
    """The run order: each count for every strategy, the strategy order reversed at each count."""
    order: list[tuple[str, int]] = []
    for i, n in enumerate(counts):
        row = labels if i % 2 == 0 else tuple(reversed(labels))
        order += [(label, n) for label in row]
    return order


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")


def sweep(
    cfg: Config, labels: tuple[str, ...], counts: tuple[int, ...], name: str | None = None,
    argv: list[str] | None = None, estimate: bool = True,
) -> int:
    """Run every label at each worker count into one sweep directory; 0 when every run finished ok."""
    from bench import config as config_mod
    from bench.report.sweep import print_result

    for n in counts:
        config_mod.validate(cfg.with_(workers=n))
    _check_available(labels)
    cores, cores_source = catalog_cores()  # a bad catalog stops the sweep before it starts
    name = name or f"sweep-{'-'.join(slug(lb) for lb in labels)}-{time.strftime('%Y%m%d-%H%M%S')}"
    sweep_dir = RunDir.create(cfg.out, name).path
    print(f"sweep: {sweep_dir} ({', '.join(labels)} at {', '.join(map(str, counts))} workers)",
          file=sys.stderr)
    if estimate:
        _print_estimate(cfg, labels, counts)
    order = interleave(labels, counts)
    doc: dict[str, Any] = {
        "schema_version": SWEEP_SCHEMA_VERSION, "kind": SWEEP_KIND, "created": time.time(),
        "corebench_version": __version__, "command": list(argv) if argv is not None else sys.argv,
        "strategies": list(labels), "workers": list(counts), "order": [list(o) for o in order],
        "config": {**cfg.to_dict(), "workers": None}, "cores": list(cores),
        "cores_source": cores_source, "status": "running", "plot": PLOT_FILE,
        "markdown": MARKDOWN_FILE,
        "sweeps": {lb: {"strategy": lb, "runs": []} for lb in labels},
    }
    try:
        for label, n in order:
            point = _run_point(cfg.with_(workers=n, out=str(sweep_dir)), label, n, argv)
            doc["sweeps"][label]["runs"].append(point)
            if "machine" not in doc:
                meta = RunDir(sweep_dir / point["dir"]).meta()
                doc["machine"], doc["git"] = meta.get("machine"), meta.get("git")
            _update(doc)
            write_json_atomic(sweep_dir / SWEEP_FILE, doc)
    except (Interrupted, KeyboardInterrupt):
        # What was measured so far is still a (shorter) sweep: keep it readable.
        if any(s["runs"] for s in doc["sweeps"].values()):
            write_outputs(doc, sweep_dir, "interrupted")
        raise
    analyses = write_outputs(doc, sweep_dir, "complete")
    print_result(doc, analyses, sweep_dir)
    bad = [(lb, r) for lb, s in doc["sweeps"].items() for r in s["runs"] if r["status"] != "ok"]
    for lb, r in bad:
        print(f"bench sweep: {lb} at {r['workers']} workers: {r['status']}: {r['reason']}",
              file=sys.stderr)
    return 1 if bad else 0


def _check_available(labels: tuple[str, ...]) -> None:
    from bench.strategies import get

    for label in labels:
        avail = get(base_name(label)).available()
        if not avail.ok:
            raise StrategyUnavailable(f"{base_name(label)} cannot run here: {avail.reason}")


def analysis(doc: dict[str, Any], label: str) -> ScalingAnalysis:
    """The scaling analysis of one strategy's points in a sweep document."""
    runs = doc["sweeps"][label]["runs"]
    rows = [(int(r["workers"]), r.get("throughput"), r.get("wall")) for r in runs]
    usable = (doc.get("machine") or {}).get("usable_cores")
    return analyze(rows, cores=doc["cores"], usable_cores=int(usable) if usable else None)


def _update(doc: dict[str, Any]) -> dict[str, ScalingAnalysis]:
    out = {}
    for label, entry in doc["sweeps"].items():
        if not entry["runs"]:
            continue
        out[label] = analysis(doc, label)
        entry.update(out[label].to_dict())
    return out


def write_outputs(doc: dict[str, Any], sweep_dir: Path, status: str) -> dict[str, ScalingAnalysis]:
    """Final sweep.json, sweep.png and sweep.md for what the sweep measured."""
    from bench.report.sweep import render_markdown, write_plot

    doc["status"] = status
    analyses = _update(doc)
    for label, entry in doc["sweeps"].items():
        if label in analyses:
            entry["notes"] = [*entry["notes"], *run_notes(entry)]
    write_json_atomic(sweep_dir / SWEEP_FILE, doc)
    write_plot(sweep_dir / PLOT_FILE, analyses)
    (sweep_dir / MARKDOWN_FILE).write_text(render_markdown(doc, analyses))
    return analyses


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


def _print_estimate(cfg: Config, labels: tuple[str, ...], counts: tuple[int, ...]) -> None:
    from bench.run.calibrate import format_duration, run_seconds, trial_seconds

    try:
        per_trial = trial_seconds(cfg, workers=1)
    except Exception as exc:  # a calibration failure must not stop the sweep itself
        print(f"estimate: unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
        return
    total = sum(run_seconds(cfg.with_(workers=n), lb, per_trial) for lb in labels for n in counts)
    print(
        f"estimate: about {format_duration(total)} for {len(labels) * len(counts)} runs of "
        f"{cfg.trials} trials (one trial ~{per_trial:.2f} s on one worker; ideal scaling assumed)",
        file=sys.stderr,
    )


def _run_point(cfg: Config, label: str, n: int, argv: list[str] | None) -> dict[str, Any]:
    from bench.analysis.summary import summarize
    from bench.cli.compare import execute

    rd = execute(cfg.with_(strategies=(label,)), name=f"{slug(label)}-w{n}", argv=argv,
                 baseline=False)
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
        "finished": time.time(),
    }
