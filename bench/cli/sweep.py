"""`bench sweep`: one strategy at several worker counts, same trials and seeds, then a scaling fit.

    reports/<name>/w1, w2, ...   one results directory per worker count (as `bench run` writes)
    reports/<name>/sweep.json    points, Amdahl and USL fits, predictions, machine (rewritten after
                                 each count, so an interrupted sweep keeps what it measured)
    reports/<name>/sweep.png     speedup and efficiency against workers, ideal line, fitted curves
    reports/<name>/sweep.md      the same for a person
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench import __version__
from bench.analysis.scaling import (
    BAND_METHOD,
    EXACT_SENSITIVITY,
    SWEEP_FILE,
    SWEEP_KIND,
    SWEEP_SCHEMA_VERSION,
    ScalingAnalysis,
    analyze,
    catalog_cores,
    exact_sensitivity,
)
from bench.cli._options import add_search_arguments, resolve_config
from bench.config import Config
from bench.config.labels import base_name
from bench.errors import ConfigError, Interrupted, StrategyUnavailable
from bench.records.rundir import RunDir, write_json_atomic

PLOT_FILE = "sweep.png"
MARKDOWN_FILE = "sweep.md"
# Below this mean trial time, sending a trial to a worker costs about as much as running it.
SHORT_TRIAL_S = 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strategy", required=True, help="one strategy or variant (pool, pool@unlimited/spawn)"
    )
    add_search_arguments(p)
    # The shared -w/--workers takes one count; a sweep takes a list, so it replaces that flag.
    g = p.add_argument_group("sweep", conflict_handler="resolve")
    g.add_argument(
        "-w", "--workers", dest="worker_counts", default=None,
        help="comma list of worker counts, e.g. 1,2,4 (default: 1, 2, 4, ... up to usable cores)",
    )
    g.add_argument("--no-estimate", dest="estimate", action="store_false",
                   help="skip the calibration trial that estimates the duration")


def parse_worker_counts(text: str) -> tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4): integers >= 1, no duplicates, at least two; returned sorted."""
    counts: list[int] = []
    for part in text.split(","):
        item = part.strip()
        try:
            n = int(item)
        except ValueError:
            raise ConfigError(
                f"--workers takes comma-separated integers, got {item!r} in {text!r}"
            ) from None
        if n < 1:
            raise ConfigError(f"--workers counts must be >= 1, got {n}")
        if n in counts:
            raise ConfigError(f"--workers lists {n} twice")
        counts.append(n)
    if len(counts) < 2:
        raise ConfigError(
            f"a sweep needs at least two worker counts, got {text!r}; e.g. --workers 1,2"
        )
    return tuple(sorted(counts))


def default_worker_counts(cores: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to the usable cores, and the core count itself."""
    counts = {1, max(2, cores)}
    n = 2
    while n < cores:
        counts.add(n)
        n *= 2
    return tuple(sorted(counts))


def run(args: argparse.Namespace) -> int:
    from bench.config import usable_cores

    label = str(args.strategy).strip()
    if "," in label or base_name(label) == "all":
        raise ConfigError("bench sweep takes one strategy; run one sweep per strategy")
    if base_name(label) == "sequential":
        raise ConfigError(
            "sequential always runs one worker; sweep a parallel strategy (e.g. pool)"
        )
    counts = (parse_worker_counts(args.worker_counts) if args.worker_counts is not None
              else default_worker_counts(usable_cores()))
    # Validated at the largest count (the strictest for workers-per-core and island sizes).
    cfg = resolve_config(args, strategies=label, workers=counts[-1])
    if cfg.study_name is not None:
        raise ConfigError(
            "bench sweep runs every worker count on a fresh study; with --study-name the later "
            "counts would join the first one's finished study and run nothing"
        )
    return sweep(cfg, label, counts, name=args.name, argv=sys.argv, estimate=args.estimate)


def sweep(
    cfg: Config, label: str, counts: tuple[int, ...], name: str | None = None,
    argv: list[str] | None = None, estimate: bool = True,
) -> int:
    """Run `label` at each worker count into one sweep directory; 0 when every run finished ok."""
    from bench import config as config_mod
    from bench.strategies import get

    for n in counts:
        config_mod.validate(cfg.with_(workers=n))
    avail = get(base_name(label)).available()
    if not avail.ok:
        raise StrategyUnavailable(f"{base_name(label)} cannot run here: {avail.reason}")
    name = name or f"sweep-{_slug(label)}-{time.strftime('%Y%m%d-%H%M%S')}"
    sweep_dir = RunDir.create(cfg.out, name).path
    print(f"sweep: {sweep_dir} ({label} at {', '.join(map(str, counts))} workers)", file=sys.stderr)
    if estimate:
        _print_estimate(cfg, label, counts)
    cores, cores_source = catalog_cores()
    doc: dict[str, Any] = {
        "schema_version": SWEEP_SCHEMA_VERSION, "kind": SWEEP_KIND, "created": time.time(),
        "corebench_version": __version__, "command": list(argv) if argv is not None else sys.argv,
        "strategy": label, "workers": list(counts), "config": {**cfg.to_dict(), "workers": None},
        "cores": list(cores), "cores_source": cores_source, "status": "running", "runs": [],
        "plot": PLOT_FILE, "markdown": MARKDOWN_FILE,
    }
    try:
        for n in counts:
            point = _run_point(cfg.with_(workers=n, out=str(sweep_dir)), label, n, argv)
            doc["runs"].append(point)
            if "machine" not in doc:
                meta = RunDir(sweep_dir / point["dir"]).meta()
                doc["machine"], doc["git"] = meta.get("machine"), meta.get("git")
            doc.update(_analysis(doc).to_dict())
            write_json_atomic(sweep_dir / SWEEP_FILE, doc)
    except (Interrupted, KeyboardInterrupt):
        # What was measured so far is still a (shorter) sweep: keep it readable.
        if doc["runs"]:
            _write_outputs(doc, sweep_dir, "interrupted")
        raise
    analysis = _write_outputs(doc, sweep_dir, "complete")
    _print_result(doc, analysis, sweep_dir)
    bad = [r for r in doc["runs"] if r["status"] != "ok"]
    for r in bad:
        print(f"bench sweep: {r['workers']} workers: {r['status']}: {r['reason']}", file=sys.stderr)
    return 1 if bad else 0


def _write_outputs(doc: dict[str, Any], sweep_dir: Path, status: str) -> ScalingAnalysis:
    doc["status"] = status
    analysis = _analysis(doc)
    doc.update(analysis.to_dict())
    doc["notes"] = [*doc["notes"], *_run_notes(doc)]
    write_json_atomic(sweep_dir / SWEEP_FILE, doc)
    write_plot(sweep_dir / PLOT_FILE, analysis, str(doc["strategy"]))
    (sweep_dir / MARKDOWN_FILE).write_text(render_markdown(doc, analysis))
    return analysis


def _run_notes(doc: dict[str, Any]) -> list[str]:
    notes = []
    means = [r["trial_mean_s"] for r in doc["runs"] if r.get("trial_mean_s") is not None]
    if means and min(means) < SHORT_TRIAL_S:
        notes.append(
            f"trials take {min(means):.2f} s on average: per-trial dispatch and start-up, not the "
            "search, decide these speedups; sweep with larger --generations/--population (the "
            "default preset) before trusting the predictions"
        )
    threads = {r["workers"]: r.get("threads") for r in doc["runs"] if r.get("status") == "ok"}
    if len(set(threads.values())) > 1:
        per = ", ".join(f"{'default' if t is None else t} at {w}" for w, t in threads.items())
        notes.append(
            f"torch threads per worker differ across points ({per} workers): the speedup mixes "
            "worker scaling with the thread count; --threads 1 measures the workers alone"
        )
    return notes


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")


def _print_estimate(cfg: Config, label: str, counts: tuple[int, ...]) -> None:
    from bench.run.calibrate import format_duration, run_seconds, trial_seconds

    try:
        per_trial = trial_seconds(cfg, workers=1)
    except Exception as exc:  # a calibration failure must not stop the sweep itself
        print(f"estimate: unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
        return
    total = sum(run_seconds(cfg.with_(workers=n), label, per_trial) for n in counts)
    print(
        f"estimate: about {format_duration(total)} for {len(counts)} runs of {cfg.trials} trials "
        f"(one trial ~{per_trial:.2f} s on one worker; ideal scaling assumed)",
        file=sys.stderr,
    )


def _run_point(cfg: Config, label: str, n: int, argv: list[str] | None) -> dict[str, Any]:
    from bench.analysis.summary import summarize
    from bench.cli.compare import execute

    rd = execute(cfg.with_(strategies=(label,)), name=f"w{n}", argv=argv, baseline=False)
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
    }


def _analysis(doc: dict[str, Any]) -> ScalingAnalysis:
    rows = [(int(r["workers"]), r.get("throughput"), r.get("wall")) for r in doc["runs"]]
    usable = (doc.get("machine") or {}).get("usable_cores")
    return analyze(rows, cores=doc["cores"], usable_cores=int(usable) if usable else None)


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _params_text(f: dict[str, Any]) -> str:
    parts = []
    for name, p in (f.get("params") or {}).items():
        se = f" ± {p['stderr']:.2g}" if p.get("stderr") is not None else ""
        bound = " (at bound)" if p.get("at_bound") else ""
        parts.append(f"{name} = {p['value']:.4g}{se}{bound}")
    return ", ".join(parts) or "-"


def render_markdown(doc: dict[str, Any], analysis: ScalingAnalysis) -> str:
    """sweep.md: measured points, fits, predictions and how far to trust them."""
    cfg = doc["config"]
    m = doc.get("machine") or {}
    base = analysis.base_workers
    out = [f"# Scaling sweep: `{doc['strategy']}`", ""]
    out.append(
        f"Machine: {m.get('cpu_model', '?')}, {m.get('usable_cores', '?')} usable cores "
        f"(fingerprint {m.get('id', '?')}). Each point runs the same search: "
        f"{cfg['trials']} trials, population {cfg['population']}, "
        f"{cfg['generations']} generations, {cfg['seeds']} seed(s), "
        f"mode {cfg['mode']}, threads {cfg['threads']}, sampler {cfg['sampler']} "
        f"(seed {cfg['sampler_seed']}). Status: {doc.get('status')}."
    )
    out += ["", "## Measured", "",
            "| workers | status | trials done | wall | trials/s | speedup | efficiency |",
            "|---:|---|---:|---:|---:|---:|---:|"]
    by_n = {pt.workers: pt for pt in analysis.points}
    for r in doc["runs"]:
        pt = by_n.get(int(r["workers"]))
        out.append(
            f"| {r['workers']} | {r['status']} | {r.get('trials_done', '-')} "
            f"| {_fmt(r.get('wall'), '.1f', ' s')} | {_fmt(r.get('throughput'), '.3f')} "
            f"| {_fmt(pt.speedup if pt else None, '.2f', 'x')} "
            f"| {_fmt(pt.efficiency if pt else None, '.0%')} |"
        )
    base_text = "?" if base is None else f"{base} worker{'s' if base > 1 else ''}"
    out += ["", "Speedup is completed trials per second of work (first trial start to last trial "
            f"end) at W workers over that at {base_text}, same trials and seeds; efficiency is the "
            "speedup divided by the worker ratio (100% = ideal)."]
    out += ["", "## Fits", "", "| model | formula | status | parameters | R² | RMSE | note |",
            "|---|---|---|---|---:|---:|---|"]
    for name, f in doc.get("fits", {}).items():
        out.append(
            f"| {name} | `{f['formula']}` | {f['status']} | {_params_text(f)} "
            f"| {_fmt(f.get('r2'), '.3f')} | {_fmt(f.get('rmse'), '.3f')} "
            f"| {f.get('reason') or ''} |"
        )
    out += ["", "## Predicted speedup over 1 worker", "",
            "| cores | speedup | model | 95% range | efficiency | trials/hour |",
            "|---:|---:|---|---|---:|---:|"]
    for p in analysis.predictions:
        rng = "-" if p.low is None or p.high is None else f"{p.low:.2f} – {p.high:.2f}"
        thr = None if p.throughput is None else p.throughput * 3600
        out.append(
            f"| {p.cores}{' *' if p.extrapolated else ''} | {_fmt(p.speedup, '.2f', 'x')} "
            f"| {p.model} | {rng} | {_fmt(p.efficiency, '.0%')} | {_fmt(thr, '.0f')} |"
        )
    top = max(analysis.fitted_workers, default=None)
    out += ["", f"Core counts from {doc.get('cores_source')}. `*` = extrapolated beyond the "
            f"largest fitted count ({top}); a model fitted on few workers cannot see memory "
            "bandwidth, NUMA or SMT limits, so read an extrapolation as an upper end and confirm "
            f"on the bigger machine. {BAND_METHOD} \"-\" = no uncertainty estimate (an exact fit "
            "or none: add worker counts)."]
    notes = doc.get("notes", analysis.notes)
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out += ["", f"![speedup and efficiency against workers]({doc.get('plot', PLOT_FILE)})", "",
            "Reproduce: `" + shlex.join(["bench", *_argv_tail(doc.get("command") or [])]) + "`", ""]
    return "\n".join(out)


def _argv_tail(argv: list[str]) -> list[str]:
    if "sweep" in argv:
        return [str(a) for a in argv[argv.index("sweep"):]]
    return ["sweep"]


def write_plot(path: Path, analysis: ScalingAnalysis, label: str) -> None:
    """Speedup (log-log) and efficiency against workers: measured, ideal, fitted curves and band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    from bench.analysis.scaling import curve_band

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    pts = [p for p in analysis.points if p.speedup is not None]
    base = analysis.base_workers or 1
    top = max([p.workers for p in analysis.points] + [c.cores for c in analysis.predictions] + [2])
    grid = np.unique(np.geomspace(base, top, 80).round(3))
    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax_s.plot(grid, grid / base, ls="--", color="0.5", label="ideal")
    ax_e.axhline(1.0, ls="--", color="0.5", label="ideal")
    colors = {"amdahl": "tab:blue", "usl": "tab:orange"}
    for f in analysis.fits:
        if not f.ok:
            continue
        est, low, high = curve_band(f, list(grid))
        ref = f.speedup(base)
        rel = np.array(est) / ref
        params = ", ".join(f"{p.name}={p.value:.3g}" for p in f.params)
        ax_s.plot(grid, rel, color=colors[f.model], label=f"{f.model} ({params}, {f.status})")
        ax_e.plot(grid, rel * base / grid, color=colors[f.model], label=f.model)
        if low is not None and high is not None:
            lo, hi = np.array(low) / ref, np.array(high) / ref
            ax_s.fill_between(grid, lo, hi, color=colors[f.model], alpha=0.15)
            ax_e.fill_between(grid, lo * base / grid, hi * base / grid, color=colors[f.model],
                              alpha=0.15)
    if pts:
        ws = [p.workers for p in pts]
        ax_s.plot(ws, [p.speedup for p in pts], "o", color="black", label="measured", zorder=5)
        ax_e.plot(ws, [p.efficiency for p in pts], "o", color="black", label="measured", zorder=5)
    for c in analysis.predictions:
        for ax in (ax_s, ax_e):
            ax.axvline(c.cores, color="0.75", ls=":", lw=1)
    for ax in (ax_s, ax_e):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(plain)
        ax.set_xlabel("workers (dotted: catalog core counts)")
        ax.grid(True, which="both", alpha=0.3)
    ax_s.set_yscale("log", base=2)
    ax_s.yaxis.set_major_formatter(plain)
    ax_s.set_ylabel(f"speedup over {base} worker{'s' if base > 1 else ''}")
    ax_e.set_ylabel("efficiency (speedup per worker)")
    ax_e.set_ylim(0, 1.2)
    ax_s.set_title(f"{label}: speedup")
    ax_e.set_title(f"{label}: efficiency")
    ax_s.legend(fontsize=8)
    ax_e.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _print_result(doc: dict[str, Any], analysis: ScalingAnalysis, sweep_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    table = Table(title=f"sweep: {doc['strategy']}")
    for col in ("workers", "status", "trials", "wall", "trials/s", "speedup", "efficiency"):
        table.add_column(col, justify="left" if col == "status" else "right")
    by_n = {pt.workers: pt for pt in analysis.points}
    for r in doc["runs"]:
        pt = by_n.get(int(r["workers"]))
        table.add_row(
            str(r["workers"]), str(r["status"]), str(r.get("trials_done", "-")),
            _fmt(r.get("wall"), ".1f", " s"), _fmt(r.get("throughput"), ".3f"),
            _fmt(pt.speedup if pt else None, ".2f", "x"),
            _fmt(pt.efficiency if pt else None, ".0%"),
        )
    console.print(table)
    for name, f in doc["fits"].items():
        extra = f" R²={f['r2']:.3f}" if f.get("r2") is not None and f["status"] == "fitted" else ""
        line = f"{name}: {f['status']} {_params_text(f)}{extra} {f.get('reason') or ''}"
        console.print(line.rstrip())
    for p in analysis.predictions:
        band = "" if p.low is None or p.high is None else f" (range {p.low:.2f}-{p.high:.2f})"
        moved = exact_sensitivity(doc, p.cores) if not band else None
        if moved is not None:
            band = (f" (exact fit: {moved[0]:.2f}-{moved[1]:.2f} if the largest count's speedup "
                    f"were {EXACT_SENSITIVITY:.0%} lower or higher)")
        speedup = _fmt(p.speedup, ".2f", "x")
        console.print(f"predicted at {p.cores} cores: {speedup} [{p.model}]{band}")
    for note in doc.get("notes", []):
        console.print(f"note: {note}")
    print(f"sweep: {sweep_dir / SWEEP_FILE}")
    print(f"report: {sweep_dir / MARKDOWN_FILE}")
