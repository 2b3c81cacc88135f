"""The sweep file (`sweep.json`): measured points of one strategy at several worker counts, the
fits of `models` to them, and predictions at other core counts read back from a saved file.

Everything here is a pure function of plain data except `load_sweep`, which reads one file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analysis.scaling.models import (
    BAND_METHOD,
    MODELS,
    ModelFit,
    Point,
    ScalingInputError,
    fit,
    not_fitted,
)
from bench.analysis.scaling.predict import Prediction, predict
from bench.errors import ResultsError

SWEEP_FILE = "sweep.json"
SWEEP_KIND = "corebench-sweep"
SWEEP_SCHEMA_VERSION = 2
# Version 1 held one strategy at the top level; version 2 holds each under "sweeps". Both are read.
READABLE_VERSIONS = (1, 2)
# Fields a version-2 file keeps once for all its strategies.
SHARED_FIELDS = ("config", "machine", "git", "cores", "cores_source", "created", "command", "status")
DEFAULT_CORES = (4, 16, 128)
SUPERLINEAR = 1.1  # efficiency above this is beyond measurement noise


@dataclass(frozen=True)
class SweepPoint:
    """One worker count of a sweep as measured; speedup and efficiency relative to the base."""

    workers: int
    throughput: float | None  # completed trials per second of work
    speedup: float | None
    efficiency: float | None
    wall: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"workers": self.workers, "throughput": self.throughput, "speedup": self.speedup,
                "efficiency": self.efficiency, "wall": self.wall}


@dataclass(frozen=True)
class ScalingAnalysis:
    """Points, both fits and the predictions for one sweep; `to_dict` is what sweep.json holds."""

    base_workers: int | None
    base_throughput: float | None
    points: tuple[SweepPoint, ...]
    fitted_workers: tuple[int, ...]  # the worker counts the fits used
    fits: tuple[ModelFit, ...]
    predictions: tuple[Prediction, ...]
    model_predictions: tuple[Prediction, ...]
    notes: tuple[str, ...]

    def fit(self, model: str) -> ModelFit:
        return next(f for f in self.fits if f.model == model)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_workers": self.base_workers, "base_throughput": self.base_throughput,
            "points": [p.to_dict() for p in self.points],
            "fitted_workers": list(self.fitted_workers),
            "fits": {f.model: f.to_dict() for f in self.fits},
            "predictions": [p.to_dict() for p in self.predictions],
            "model_predictions": [p.to_dict() for p in self.model_predictions],
            "band_method": BAND_METHOD, "notes": list(self.notes),
        }


def analyze(
    measured: Sequence[tuple[int, float | None]] | Sequence[tuple[int, float | None, float | None]],
    cores: Sequence[int] = DEFAULT_CORES,
    usable_cores: int | None = None,
) -> ScalingAnalysis:
    """Speedups, fits and predictions from (workers, throughput[, wall]) rows of one sweep.

    A row without throughput (no completed trial) is kept as a point with no speedup and left out
    of the fit, and so is a count above `usable_cores`: it measures oversubscription of this
    machine, which neither model describes and which a bigger machine would not have. This never
    raises for thin data; it says what is missing in `notes`.
    """
    rows = sorted(
        ((int(r[0]), r[1], r[2] if len(r) > 2 else None) for r in measured),
        key=lambda r: r[0],
    )
    usable = [r for r in rows if r[1] is not None and math.isfinite(r[1]) and r[1] > 0]
    notes: list[str] = []
    for w, thr, _ in rows:
        if not (thr is not None and math.isfinite(thr) and thr > 0):
            notes.append(f"{w} workers: no completed trials, left out of the fit")
    if not usable:
        first = rows[0][0] if rows else 1
        fits = tuple(not_fitted(m, first, -1, "no worker count completed a trial") for m in MODELS)
        points = tuple(SweepPoint(w, None, None, None, wall) for w, _, wall in rows)
        combined, per_model = predict(fits, cores)
        return ScalingAnalysis(None, None, points, (), fits, combined, per_model,
                               (*notes, "nothing to fit: no worker count completed a trial"))
    base, base_thr, _ = usable[0]
    assert base_thr is not None
    if base != 1:
        notes.append(f"no 1-worker point: speedups are relative to {base} workers; predictions "
                     "over 1 worker extrapolate the model below the sweep")
    points = tuple(
        SweepPoint(w, thr, thr / base_thr, thr / base_thr * base / w, wall)
        if thr is not None and math.isfinite(thr) and thr > 0
        else SweepPoint(w, None, None, None, wall)
        for w, thr, wall in rows
    )
    for p in points:
        if p.efficiency is not None and p.efficiency > SUPERLINEAR:
            notes.append(
                f"superlinear at {p.workers} workers (efficiency {p.efficiency:.0%}): the base "
                "point is slowed by something the others avoid (more intra-op threads per worker, "
                "cache, a busy machine); the models read it as no serial part, so predictions are "
                "too high"
            )
    over = [p.workers for p in points if usable_cores is not None and p.workers > usable_cores]
    if over:
        notes.append(
            f"{', '.join(map(str, over))} workers > {usable_cores} usable cores: shown, but left "
            "out of the fit (they measure oversubscription of this machine, not scaling)"
        )
    fit_points = [Point(p.workers, p.speedup) for p in points
                  if p.speedup is not None and p.workers not in over]
    fits = tuple(
        fit(m, fit_points)
        if fit_points
        else not_fitted(m, base, -1, "no point within the usable cores")
        for m in MODELS
    )
    for f in fits:
        if not f.ok:
            notes.append(f"{f.model}: not fitted, {f.reason}")
    top = max((p.workers for p in fit_points), default=None)
    combined, per_model = predict(fits, cores, base_thr, top)
    return ScalingAnalysis(base, base_thr, points, tuple(p.workers for p in fit_points), fits,
                           combined, per_model, tuple(notes))


def speedup_at(sweep: Mapping[str, Any], cores: int) -> Prediction:
    """The combined prediction at any core count from a loaded sweep.json (see `load_sweep`)."""
    fits = [ModelFit.from_dict(d) for d in (sweep.get("fits") or {}).values()]
    measured = [int(w) for w in sweep.get("fitted_workers") or []]
    combined, _ = predict(fits, [int(cores)], sweep.get("base_throughput"),
                          max(measured) if measured else None)
    return combined[0]


# How far the top point of an exact fit is moved to show what the prediction hangs on: about the
# run-to-run spread of one throughput measurement on a small shared machine.
EXACT_SENSITIVITY = 0.05


def exact_sensitivity(
    sweep: Mapping[str, Any], cores: int, rel: float = EXACT_SENSITIVITY
) -> tuple[float, float] | None:
    """For a sweep whose central model is an exact fit (no band): the (low, high) speedup at
    `cores` when the largest fitted worker count's measured speedup is `rel` lower or higher.
    None when the prediction has a band already or cannot be refitted."""
    pred = speedup_at(sweep, cores)
    if pred.speedup is None or pred.low is not None:
        return None
    moved = moved_fits(sweep, pred.model, rel)
    if moved is None:
        return None
    values = [f.speedup(float(cores)) for f in moved]
    return min(values), max(values)


def moved_fits(
    sweep: Mapping[str, Any], model: str, rel: float = EXACT_SENSITIVITY
) -> tuple[ModelFit, ModelFit] | None:
    """`model` refitted with the largest fitted worker count's speedup `rel` lower, and higher
    (what `exact_sensitivity` evaluates; the fits do not depend on the core count, so a caller
    asking at many counts fits once). None when there is nothing to move or no fit."""
    fitted = {int(w) for w in sweep.get("fitted_workers") or []}
    points = [
        Point(int(p["workers"]), float(p["speedup"]))
        for p in sweep.get("points") or []
        if int(p.get("workers", 0)) in fitted and p.get("speedup")
    ]
    if len(points) < 2:
        return None
    top = max(p.workers for p in points)
    out = []
    for factor in (1.0 - rel, 1.0 + rel):
        moved = [Point(p.workers, p.speedup * factor if p.workers == top else p.speedup) for p in points]
        try:
            f = fit(model, moved)
        except ScalingInputError:
            return None
        if not f.ok:
            return None
        out.append(f)
    return out[0], out[1]


def load_sweep(path: str | Path) -> dict[str, Any]:
    """sweep.json of a sweep directory (or the file itself), checked for kind and schema version;
    read by the records reader, so a FIFO, a directory or a binary file is a ResultsError too."""
    import os

    from bench.records.files import read_json_object

    p = Path(path)
    try:
        f = p / SWEEP_FILE if p.is_dir() else p
    except OSError as exc:
        raise ResultsError(f"cannot read sweep {p}: {exc.strerror or exc}") from None
    if not os.path.lexists(f):
        raise ResultsError(f"no sweep at {p}: run `bench sweep --strategies S --workers 1,2,4` first")
    data = read_json_object(f, "sweep file")
    if data.get("kind") != SWEEP_KIND:
        raise ResultsError(f"{f} is not a corebench sweep file")
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ResultsError(
            f"{f} has sweep schema version {version}, this corebench reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}: re-run `bench sweep` with this version"
        )
    if version == 2 and not isinstance(data.get("sweeps"), dict):
        raise ResultsError(f"{f} holds no per-strategy sweeps")
    from bench.records import schema

    try:  # the shapes of the fields readers use, in the file and in each per-strategy sweep
        schema.check(schema.SweepDoc, data)
        for one in (data.get("sweeps") or {}).values():
            schema.check(schema.SweepDoc, one)
    except schema.ShapeError as exc:
        raise ResultsError(f"{f} is damaged: {exc}") from None
    return data


def strategy_sweeps(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each strategy's sweep in a loaded sweep.json, as one flat dict (its points, fits and
    predictions, plus the file's shared config and machine): what `speedup_at` reads."""
    if doc.get("schema_version") == 1 or "sweeps" not in doc:
        return {str(doc.get("strategy")): dict(doc)}
    shared = {k: doc[k] for k in SHARED_FIELDS if k in doc}
    return {str(label): {**shared, **entry, "strategy": str(label)}
            for label, entry in (doc.get("sweeps") or {}).items()}
