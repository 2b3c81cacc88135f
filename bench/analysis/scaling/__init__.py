"""Scaling models fitted to a worker sweep (`models`: Amdahl, USL, the fit), what they predict
(`predict`: bands, the combined prediction) and the sweep file they are fitted from (`sweep`:
points, analysis, loading a saved sweep.json)."""

from __future__ import annotations

from bench.analysis.scaling.models import (
    BAND_DRAWS,
    BAND_LEVEL,
    BAND_METHOD,
    BAND_SEED,
    BOUND_TOL,
    EXACT,
    FITTED,
    MODELS,
    NOT_FITTED,
    ModelFit,
    Param,
    Point,
    ScalingInputError,
    amdahl,
    fit,
    fit_amdahl,
    fit_usl,
    not_fitted,
    usl,
)
from bench.analysis.scaling.predict import Prediction, curve_band, predict
from bench.analysis.scaling.sweep import (
    DEFAULT_CORES,
    EXACT_SENSITIVITY,
    SUPERLINEAR,
    SWEEP_FILE,
    SWEEP_KIND,
    SWEEP_SCHEMA_VERSION,
    ScalingAnalysis,
    SweepPoint,
    analyze,
    exact_sensitivity,
    load_sweep,
    speedup_at,
    strategy_sweeps,
)

__all__ = [
    "BAND_DRAWS", "BAND_LEVEL", "BAND_METHOD", "BAND_SEED", "BOUND_TOL", "DEFAULT_CORES", "EXACT",
    "EXACT_SENSITIVITY", "FITTED", "MODELS", "NOT_FITTED", "SUPERLINEAR", "SWEEP_FILE", "SWEEP_KIND",
    "SWEEP_SCHEMA_VERSION", "ModelFit", "Param", "Point", "Prediction", "ScalingAnalysis",
    "ScalingInputError", "SweepPoint", "amdahl", "analyze", "curve_band", "exact_sensitivity",
    "fit", "fit_amdahl", "fit_usl", "load_sweep", "not_fitted", "predict", "speedup_at", "strategy_sweeps",
    "usl",
]
