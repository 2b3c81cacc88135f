"""PNG plots for the report (matplotlib, Agg, no pyplot state): CPU use over time against capacity,
threads over time, and useful throughput per run."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bench.analysis.diagnose import Diagnosis
from bench.analysis.diagnose.observe import cpu_cores, run_tree, runnable_threads
from bench.records.schema import TreeSample

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Colour by how a strategy runs trials, so the same story reads the same in every plot.
KIND_COLORS = {
    "inline": "#6b6b6b",
    "threads": "#d1495b",
    "processes": "#2e86ab",
    "ray": "#7b5ea7",
    "unknown": "#999999",
}
CAPACITY_COLOR = "#222222"
PANEL_W, PANEL_H = 5.6, 2.5


def _figure(panels: int) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = 1 if panels == 1 else 2
    rows = max(1, math.ceil(panels / cols))
    fig = Figure(figsize=(PANEL_W * cols, PANEL_H * rows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat[:panels]


def _trees(d: Diagnosis) -> dict[str, list[TreeSample]]:
    """Each run's process-tree samples, as the diagnosis reads them (`observe.run_tree`: a run over
    several Ray nodes is its nodes' workers merged); runs without any are left out."""
    trees = {lb: run_tree(d.recorded.samples.get(lb, []))[0] for lb in d.recorded.labels}
    return {lb: tree for lb, tree in trees.items() if tree}


def _capacity(d: Diagnosis, label: str) -> tuple[int, str]:
    """The cores line of a panel and its legend: this machine's, or the Ray CPUs of the nodes."""
    obs = d.observations[label]
    if obs.nodes:
        return obs.usable_cores, f"{obs.usable_cores} Ray CPUs on {obs.nodes} nodes"
    return d.recorded.usable_cores, f"{d.recorded.usable_cores} cores"


def _t0(d: Diagnosis, label: str, tree: list[TreeSample]) -> float:
    start = d.observations[label].run_start
    return start if start is not None else float(tree[0]["t"])


def _shade_work(ax: Axes, d: Diagnosis, label: str, t0: float) -> None:
    w = d.observations[label].work_window
    if w is not None:
        ax.axvspan(w[0] - t0, w[1] - t0, color="#f2e8cf", alpha=0.6, lw=0, label="trials running")


def _finish_panel(ax: Axes, top: float, ylabel: str) -> None:
    """The axes every over-time panel shares: one y scale, seconds since run start, a light grid."""
    ax.set_ylim(0, top)
    ax.set_xlabel("seconds since run start", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def _panels_over_time(
    d: Diagnosis,
    path: Path,
    peak: Callable[[TreeSample], float],
    ylabel: str,
    draw: Callable[[Axes, str, list[TreeSample], list[float], str], str],
    legend_loc: Literal["lower right", "upper right"],
    suptitle: str,
) -> Path | None:
    """One panel per run over time, its work shaded and its cores line drawn, all panels on one y
    scale (the highest cores line or `peak` of a sample). `draw(ax, label, tree, xs, cores text)`
    plots the run's own lines and returns the panel's title."""
    trees = _trees(d)
    if not trees:
        return None
    fig, axes = _figure(len(trees))
    top = max(*(_capacity(d, lb)[0] for lb in trees),
              *(peak(s) for tree in trees.values() for s in tree)) * 1.15
    for ax, (label, tree) in zip(axes, trees.items(), strict=True):
        cores, what = _capacity(d, label)
        t0 = _t0(d, label, tree)
        xs = [float(s["t"]) - t0 for s in tree]
        _shade_work(ax, d, label, t0)
        title = draw(ax, label, tree, xs, what)
        ax.axhline(cores, color=CAPACITY_COLOR, ls="--", lw=1, label=f"capacity ({what})")
        ax.set_title(title, fontsize=9, loc="left")
        _finish_panel(ax, top, ylabel)
    axes[0].legend(fontsize=7, loc=legend_loc)
    fig.suptitle(suptitle, fontsize=10)
    fig.savefig(path, dpi=110)
    return path


def cpu_plot(d: Diagnosis, path: Path) -> Path | None:
    """Cores busy over time, one panel per run, against the usable-cores line."""

    def draw(ax: Axes, label: str, tree: list[TreeSample], xs: list[float], what: str) -> str:
        mine = [cpu_cores(s) for s in tree]
        # The whole machine above the run: the grey band is CPU other processes took meanwhile.
        machine = [sum(float(x) for x in s.get("per_core") or []) / 100.0 for s in tree]
        if any(machine):
            ax.fill_between(xs, mine, [max(m, r) for m, r in zip(machine, mine, strict=True)],
                            color="#9a9a9a", alpha=0.35, lw=0, label="other processes")
        ax.plot(
            xs,
            mine,
            color=KIND_COLORS.get(d.contexts[label].kind, "#999999"),
            lw=1.6,
            label="this run",
        )
        obs = d.observations[label]
        mean = (
            ""
            if obs.cpu_cores_mean is None
            else f" — mean {obs.cpu_cores_mean:.1f} of {what}"
        )
        return f"{label}{mean}"

    return _panels_over_time(d, path, cpu_cores, "cores busy", draw, "lower right",
                             "CPU use over time, in cores (one core fully busy = 1)")


def threads_plot(d: Diagnosis, path: Path) -> Path | None:
    """Threads alive and threads runnable over time, one panel per run, against the cores."""

    def alive(s: TreeSample) -> int:
        return int(s.get("n_threads") or 0)

    def draw(ax: Axes, label: str, tree: list[TreeSample], xs: list[float], what: str) -> str:
        color = KIND_COLORS.get(d.contexts[label].kind, "#999999")
        ax.plot(
            xs,
            [alive(s) for s in tree],
            color=color,
            lw=1.6,
            label="threads alive",
        )
        ax.plot(
            xs,
            [runnable_threads(s)[0] for s in tree],
            color=color,
            lw=1.2,
            ls=":",
            label="threads runnable",
        )
        return f"{label} — peak {max(alive(s) for s in tree)} threads"

    # One y scale for every panel, so thread counts compare across runs at a glance.
    return _panels_over_time(d, path, alive, "threads", draw, "upper right",
                             "Threads over time (all processes of the run)")


def throughput_plot(d: Diagnosis, path: Path) -> Path | None:
    """Completed trials per minute per run, with the ideal (sequential x busy cores) marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summaries = d.recorded.summaries
    labels = [lb for lb in d.recorded.labels if summaries.get(lb) and summaries[lb].throughput]
    if not labels:
        return None
    cores = d.recorded.usable_cores
    base = d.contexts[labels[0]].baseline
    fig = Figure(figsize=(max(5.5, 1.1 * len(labels) + 2), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = range(len(labels))
    values = [summaries[lb].throughput * 60 for lb in labels]  # type: ignore[operator]
    colors = [KIND_COLORS.get(d.contexts[lb].kind, "#999999") for lb in labels]
    bars = ax.bar(xs, values, color=colors, width=0.6)
    for bar, lb in zip(bars, labels, strict=True):
        sp = summaries[lb].speedup
        if sp is not None:
            ax.annotate(
                f"{sp:.2f}×",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
    if base is not None and base.throughput:
        ideal = [base.throughput * 60 * min(d.contexts[lb].workers, cores) for lb in labels]
        ax.scatter(
            xs,
            ideal,
            marker="_",
            s=600,
            color=CAPACITY_COLOR,
            zorder=3,
            label="ideal: sequential × min(workers, cores)",
        )
        ax.legend(fontsize=7, loc="upper left")
    ax.set_xticks(list(xs), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("completed trials / minute", fontsize=8)
    ax.set_ylim(
        0, max(values + ([base.throughput * 60 * cores] if base and base.throughput else [])) * 1.2
    )
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(
        "Useful throughput over the trials (speedup vs sequential on each bar)",
        fontsize=10,
        loc="left",
    )
    fig.savefig(path, dpi=110)
    return path


def write_plots(d: Diagnosis, out_dir: Path, stem: str) -> dict[str, Path]:
    """Every plot that has data, as `<stem>_<name>.png` in out_dir; name -> path.

    Each is drawn into a temp file and renamed over its name, so a full disk leaves the previous
    plot (or none), never half a PNG; the failure is one ResultsError naming the file.
    """
    import os

    from bench.errors import ResultsError

    made: dict[str, Path] = {}
    for name, fn in (("cpu", cpu_plot), ("threads", threads_plot), ("throughput", throughput_plot)):
        path = out_dir / f"{stem}_{name}.png"
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        try:
            if fn(d, tmp) is None:
                continue
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ResultsError(f"cannot write plot {path}: {exc.strerror or exc}") from None
        made[name] = path
    return made
