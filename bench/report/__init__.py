"""The markdown report of a results directory, with its PNG plots, regenerated from saved files.

write_report(results_dir, out=None, price_per_hour=None, prices=None, scaling=None, sweep=None) -> Path

Projections use `scaling` when given; else the one projection rule of
bench.analysis.cost.projection with the saved sweeps (`sweep`, or a `sweep.json` inside the results
directory) matched to the runs they measured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from bench.analysis.diagnose import Diagnosis, Recorded, analyse
from bench.config.labels import base_name
from bench.errors import ConfigError, ResultsError
from bench.report import cost, hypotheses, matrix
from bench.report.cost import ScalingModel
from bench.report.markdown import ReportParts, render

__all__ = ["REPORT_NAME", "build", "write_report"]

REPORT_NAME = "report.md"


def build(
    d: Diagnosis,
    report_dir: Path,
    price_per_hour: float | None = None,
    prices: str | Path | None = None,
    scaling: ScalingModel | None = None,
    sweep: str | Path | Sequence[str | Path] | None = None,
) -> ReportParts:
    """Every table's figures for a diagnosed results directory (no file is written)."""
    if price_per_hour is None:
        price_per_hour = d.recorded.config.get("price_per_hour")
    if price_per_hour is not None and (
        isinstance(price_per_hour, bool) or float(price_per_hour) <= 0
    ):
        raise ConfigError(f"--price-per-hour must be a positive number, got {price_per_hour!r}")
    catalog = cost.load_catalog(prices)
    model = scaling or scaling_model(d, sweep)
    measured = []
    for row in matrix.rows(d):
        s = d.recorded.summaries.get(row.label)
        if s is None or row.status != "ok":
            continue
        measured.append(
            cost.measured_cost(
                row.label,
                row.kind,
                row.workers,
                s.trials_done,
                s.throughput,
                s.startup,
                s.speedup,
                s.efficiency,
                d.observations[row.label].core_s_per_trial,
                None if price_per_hour is None else float(price_per_hour),
            )
        )
    base = d.contexts[d.recorded.labels[0]].baseline if d.recorded.labels else None
    projected = cost.project(measured, catalog.vms, base.throughput if base else None, model)
    return ReportParts(
        diagnosis=d,
        matrix=matrix.rows(d),
        hypotheses=hypotheses.evaluate(d),
        measured=measured,
        projected=projected,
        catalog=catalog,
        catalog_source=catalog.source,
        model=model,
        price_per_hour=None if price_per_hour is None else float(price_per_hour),
        plots={},
        report_dir=report_dir,
    )


def scaling_model(d: Diagnosis, sweep: str | Path | Sequence[str | Path] | None = None) -> ScalingModel:
    """The report's projection rule with its sweeps: those given (`sweep`: sweep directories or
    sweep.json files; a bad one is a ResultsError), else a sweep.json saved in the results
    directory (one that does not fit these results is named in the assumption line and left out),
    else none."""
    from bench.analysis.cost.sweeps import match
    from bench.analysis.scaling import SWEEP_FILE, load_sweep

    rec = d.recorded
    bases = {lb: str(rec.runs.get(lb, {}).get("strategy") or base_name(lb)) for lb in rec.labels}

    def fitted(paths: Sequence[tuple[str | Path, str]]) -> cost.DefaultModel:
        docs = [(load_sweep(p), shown) for p, shown in paths]
        return cost.DefaultModel(rec.machine, match(docs, rec.runs, rec.config, rec.machine), bases)

    if sweep is not None:
        given = [sweep] if isinstance(sweep, (str, Path)) else list(sweep)
        return fitted([(p, str(p)) for p in given])
    found = rec.path / SWEEP_FILE if rec.path is not None else None
    if found is None or not found.is_file():
        return cost.DefaultModel(rec.machine, None, bases)
    try:
        return fitted([(found, f"{SWEEP_FILE} in this results directory")])
    except ResultsError as exc:
        return cost.DefaultModel(rec.machine, None, bases,
                                 preface=f"The sweep saved here was not used: {exc}.")


def write_report(
    results_dir: str | Path,
    out: str | Path | None = None,
    price_per_hour: float | None = None,
    prices: str | Path | None = None,
    scaling: ScalingModel | None = None,
    sweep: str | Path | Sequence[str | Path] | None = None,
    diagnosis: Diagnosis | None = None,
) -> Path:
    """Write the markdown report (default `report.md` in the results directory) and its PNG plots
    beside it; returns the markdown's path. Reads saved files only (`diagnosis`: theirs, already
    analysed)."""
    from bench.report import live
    from bench.report.json_out import write_findings
    from bench.report.plots import write_plots

    d = diagnosis if diagnosis is not None else analyse(Recorded.load(results_dir))
    path = Path(out) if out is not None else Path(results_dir) / REPORT_NAME
    if path.is_dir():
        path = path / REPORT_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    if live.is_live(d):  # a watched job: no trials to price or compare
        parts = live.parts(d, path.parent)
    else:
        parts = build(d, path.parent, price_per_hour, prices, scaling, sweep)  # validates first
    plots = write_plots(d, path.parent, path.stem)
    parts = dataclasses.replace(parts, plots=plots)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(render(parts))
        tmp.replace(path)
        write_findings(parts, path)  # the same figures for tools, always beside it
    except OSError as exc:
        raise ResultsError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
