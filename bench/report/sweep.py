"""What `bench sweep` shows a person: sweep.md (measured points, fits, predictions per strategy),
sweep.png (speedup and efficiency against workers, one row per strategy) and the terminal summary.
Pure rendering of a sweep document and its analyses."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.analysis.scaling import (
    BAND_METHOD,
    EXACT_SENSITIVITY,
    SWEEP_FILE,
    ScalingAnalysis,
    exact_sensitivity,
    strategy_sweeps,
)


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def params_text(f: Mapping[str, Any]) -> str:
    parts = []
    for name, p in (f.get("params") or {}).items():
        se = f" ± {p['stderr']:.2g}" if p.get("stderr") is not None else ""
        bound = " (at bound)" if p.get("at_bound") else ""
        parts.append(f"{name} = {p['value']:.4g}{se}{bound}")
    return ", ".join(parts) or "-"


def _strategy_section(label: str, entry: Mapping[str, Any], analysis: ScalingAnalysis,
                      level: str) -> list[str]:
    base = analysis.base_workers
    out = [f"{level} Measured", "",
           "| workers | status | trials done | wall | trials/s | speedup | efficiency "
           "| storage share | storage / trial |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    by_n = {pt.workers: pt for pt in analysis.points}
    for r in entry.get("runs") or []:
        pt = by_n.get(int(r["workers"]))
        per = r.get("storage_per_trial_s")
        out.append(
            f"| {r['workers']} | {r['status']} | {r.get('trials_done', '-')} "
            f"| {_fmt(r.get('wall'), '.1f', ' s')} | {_fmt(r.get('throughput'), '.3f')} "
            f"| {_fmt(pt.speedup if pt else None, '.2f', 'x')} "
            f"| {_fmt(pt.efficiency if pt else None, '.0%')} "
            f"| {_fmt(r.get('storage_share'), '.0%')} "
            f"| {_fmt(None if per is None else per * 1000, '.1f', ' ms')} |"
        )
    base_text = "?" if base is None else f"{base} worker{'s' if base > 1 else ''}"
    out += ["", "Speedup is completed trials per second of work (first trial start to last trial "
            f"end) at W workers over that at {base_text}, same trials and seeds; efficiency is the "
            "speedup divided by the worker ratio (100% = ideal)."]
    out += ["", f"{level} Fits", "", "| model | formula | status | parameters | R² | RMSE | note |",
            "|---|---|---|---|---:|---:|---|"]
    for name, f in (entry.get("fits") or {}).items():
        out.append(
            f"| {name} | `{f['formula']}` | {f['status']} | {params_text(f)} "
            f"| {_fmt(f.get('r2'), '.3f')} | {_fmt(f.get('rmse'), '.3f')} "
            f"| {f.get('reason') or ''} |"
        )
    out += ["", f"{level} Predicted speedup over 1 worker", "",
            "| cores | speedup | model | range | efficiency | trials/hour |",
            "|---:|---:|---|---|---:|---:|"]
    for p in analysis.predictions:
        if p.low is not None and p.high is not None:
            rng = f"{p.low:.2f} – {p.high:.2f} (95% band)"
        else:
            moved = exact_sensitivity(entry, p.cores)
            rng = "-" if moved is None else (
                f"{moved[0]:.2f} – {moved[1]:.2f} (exact fit: top point ±{EXACT_SENSITIVITY:.0%})")
        thr = None if p.throughput is None else p.throughput * 3600
        out.append(
            f"| {p.cores}{' *' if p.extrapolated else ''} | {_fmt(p.speedup, '.2f', 'x')} "
            f"| {p.model} | {rng} | {_fmt(p.efficiency, '.0%')} | {_fmt(thr, '.0f')} |"
        )
    storage = next((str(r["storage"]) for r in entry.get("runs") or [] if r.get("storage")), None)
    if storage:
        out += ["", f"Storage: {storage}. Storage share: the wall time of the trials' storage calls "
                "(ask, suggest, report, tell) over the time of the threads that make them during "
                "the trials."]
    for f in entry.get("findings") or []:
        out += ["", f"**{f['code']}** ({f['severity']}): {f['explanation']} {f['action']} "
                f"Runbook: `{f['runbook']}`."]
    notes = entry.get("notes", analysis.notes)
    if notes:
        out += ["", f"{level} Notes", ""] + [f"- {n}" for n in notes]
    return out


def render_markdown(doc: Mapping[str, Any], analyses: Mapping[str, ScalingAnalysis]) -> str:
    """sweep.md: measured points, fits, predictions and how far to trust them, per strategy."""
    cfg = doc["config"]
    m = doc.get("machine") or {}
    entries = strategy_sweeps(doc)
    labels = [lb for lb in entries if lb in analyses]
    names = ", ".join(f"`{lb}`" for lb in entries)
    out = [f"# Scaling sweep: {names}", ""]
    smt = {"True": "SMT on", "False": "no SMT"}.get(str(m.get("smt")), "SMT unknown")
    out.append(
        f"Machine: {m.get('cpu_model', '?')}, {m.get('usable_cores', '?')} usable cores "
        f"({m.get('physical_cores', '?')} physical, {smt}; fingerprint {m.get('id', '?')}). Each "
        f"point runs the same search: {cfg['trials']} trials, population {cfg['population']}, "
        f"{cfg['generations']} generations, {cfg['seeds']} seed(s), "
        f"mode {cfg['mode']}, threads {cfg['threads']}, sampler {cfg['sampler']} "
        f"(seed {cfg['sampler_seed']}). Status: {doc.get('status')}."
    )
    order = doc.get("order")
    if order and len(entries) > 1:
        out += ["", "Run order (worker counts interleaved, so drift of the machine hits every "
                "strategy alike): " + ", ".join(f"{lb} ×{n}" for lb, n in order) + "."]
    level = "##" if len(entries) == 1 else "###"
    for label in labels:
        if len(entries) > 1:
            out += ["", f"## `{label}`"]
        out += ["", *_strategy_section(label, entries[label], analyses[label], level)]
    tops = [max(a.fitted_workers, default=0) for a in analyses.values()]
    out += ["", f"Core counts from {doc.get('cores_source')}. `*` = extrapolated beyond the "
            f"largest fitted count ({max(tops, default=0)}); a model fitted on few workers cannot "
            "see memory bandwidth, NUMA or SMT limits, so read an extrapolation as an upper end and "
            f"confirm on the bigger machine. {BAND_METHOD} An exact fit has no band: its range is "
            f"what a {EXACT_SENSITIVITY:.0%} move of its top point does. \"-\" = no estimate."]
    out += ["", f"![speedup and efficiency against workers]({doc.get('plot', 'sweep.png')})", "",
            "Reproduce: `" + shlex.join(["bench", *_argv_tail(doc.get("command") or [])]) + "`", ""]
    return "\n".join(out)


def _argv_tail(argv: list[str]) -> list[str]:
    if "sweep" in argv:
        return [str(a) for a in argv[argv.index("sweep"):]]
    return ["sweep"]


def write_plot(path: Path, analyses: Mapping[str, ScalingAnalysis]) -> None:
    """Speedup (log-log) and efficiency against workers, one row per strategy: measured, ideal,
    fitted curves and band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, len(analyses))
    fig, axes = plt.subplots(rows, 2, figsize=(11, 4.2 * rows), squeeze=False)
    for (label, analysis), (ax_s, ax_e) in zip(analyses.items(), axes, strict=False):
        _plot_one(ax_s, ax_e, analysis, label)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_one(ax_s: Any, ax_e: Any, analysis: ScalingAnalysis, label: str) -> None:
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    from bench.analysis.scaling import curve_band

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    pts = [p for p in analysis.points if p.speedup is not None]
    base = analysis.base_workers or 1
    top = max([p.workers for p in analysis.points] + [c.cores for c in analysis.predictions] + [2])
    grid = np.unique(np.geomspace(base, top, 80).round(3))
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


def print_result(doc: Mapping[str, Any], analyses: Mapping[str, ScalingAnalysis],
                 sweep_dir: Path) -> None:
    """The terminal summary: per strategy, the points, the fits and the predictions with ranges."""
    from bench.report.terminal import console as make_console
    from bench.report.terminal import show
    from bench.report.terminal import table as make_table

    console = make_console()
    entries = strategy_sweeps(doc)
    for label, analysis in analyses.items():
        entry = entries[label]
        table = make_table(console, f"sweep: {label}")
        for col in ("workers", "status", "trials", "wall", "trials/s", "speedup", "efficiency"):
            table.add_column(col, justify="left" if col == "status" else "right")
        by_n = {pt.workers: pt for pt in analysis.points}
        for r in entry.get("runs") or []:
            pt = by_n.get(int(r["workers"]))
            table.add_row(
                str(r["workers"]), str(r["status"]), str(r.get("trials_done", "-")),
                _fmt(r.get("wall"), ".1f", " s"), _fmt(r.get("throughput"), ".3f"),
                _fmt(pt.speedup if pt else None, ".2f", "x"),
                _fmt(pt.efficiency if pt else None, ".0%"),
            )
        show(console, table)
        for name, f in (entry.get("fits") or {}).items():
            extra = f" R²={f['r2']:.3f}" if f.get("r2") is not None and f["status"] == "fitted" else ""
            console.print(f"{name}: {f['status']} {params_text(f)}{extra} {f.get('reason') or ''}".rstrip())
        for p in analysis.predictions:
            band = "" if p.low is None or p.high is None else f" (range {p.low:.2f}-{p.high:.2f})"
            moved = exact_sensitivity(entry, p.cores) if not band else None
            if moved is not None:
                band = (f" (exact fit: {moved[0]:.2f}-{moved[1]:.2f} if the largest count's "
                        f"speedup were {EXACT_SENSITIVITY:.0%} lower or higher)")
            console.print(f"{label} predicted at {p.cores} cores: {_fmt(p.speedup, '.2f', 'x')} "
                          f"[{p.model}]{band}")
        for note in entry.get("notes", []):
            console.print(f"note ({label}): {note}")
    print(f"sweep: {sweep_dir / SWEEP_FILE}")
    print(f"report: {sweep_dir / doc.get('markdown', 'sweep.md')}")
