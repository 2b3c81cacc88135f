"""Predictions from fitted scaling models: the band of S(cores) from a fit's parameter covariance
(see `BAND_METHOD`) and the combined prediction over the fitted models at any core count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.analysis.scaling.models import (
    BAND_DRAWS,
    BAND_LEVEL,
    BAND_SEED,
    MODELS,
    ModelFit,
    ScalingInputError,
    curve_values,
)


def curve_band(
    model_fit: ModelFit, cores: Sequence[float], level: float = BAND_LEVEL,
    draws: int = BAND_DRAWS, seed: int = BAND_SEED,
) -> tuple[list[float], list[float] | None, list[float] | None]:
    """Estimate and (low, high) confidence band of S at each core count (band None: no errors)."""
    import numpy as np

    if not model_fit.ok:
        raise ScalingInputError(f"{model_fit.model} is not fitted: {model_fit.reason}")
    spec = MODELS[model_fit.model]
    ns = np.asarray(cores, dtype=float)
    theta = np.array([p.value for p in model_fit.params])
    estimate = [float(v) for v in curve_values(model_fit.model, ns, theta)]
    if model_fit.covariance is None or model_fit.dof <= 0:
        return estimate, None, None
    cov = np.array(model_fit.covariance)
    # eigh tolerates the semi-definite covariance a parameter at its bound can give.
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((draws, len(theta)))
    scale = np.sqrt(model_fit.dof / rng.chisquare(model_fit.dof, size=draws))
    samples = np.clip(theta + (z @ root.T) * scale[:, None], spec.lower, spec.upper)
    curves = curve_values(model_fit.model, ns[None, :], [samples[:, i, None] for i in range(len(theta))])
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(curves, [tail, 1.0 - tail], axis=0)
    return estimate, [float(x) for x in low], [float(x) for x in high]


@dataclass(frozen=True)
class Prediction:
    """Speedup over 1 worker at `cores`: the central estimate and its band (None: no estimate)."""

    cores: int
    model: str  # the model behind `speedup`; "none" when no model is fitted
    speedup: float | None
    low: float | None
    high: float | None
    throughput: float | None = None  # trials/s, from the base point's measured throughput
    extrapolated: bool = False  # beyond the largest measured worker count

    @property
    def efficiency(self) -> float | None:
        return None if self.speedup is None else self.speedup / self.cores

    def to_dict(self) -> dict[str, Any]:
        return {
            "cores": self.cores, "model": self.model, "speedup": self.speedup, "low": self.low,
            "high": self.high, "efficiency": self.efficiency, "throughput": self.throughput,
            "extrapolated": self.extrapolated,
        }


def predict(
    fits: Sequence[ModelFit], cores: Sequence[int], base_throughput: float | None = None,
    max_measured: int | None = None,
) -> tuple[tuple[Prediction, ...], tuple[Prediction, ...]]:
    """(combined, per-model) predictions at each core count; see the module doc for the band."""
    ok = [f for f in fits if f.ok]
    per_model: list[Prediction] = []
    bands: dict[str, tuple[list[float], list[float] | None, list[float] | None]] = {}
    for f in ok:
        bands[f.model] = curve_band(f, [float(c) for c in cores])
    combined: list[Prediction] = []
    central = next((f for f in ok if f.model == "usl"), ok[0] if ok else None)
    for i, c in enumerate(cores):
        extra = max_measured is not None and c > max_measured
        values: list[float] = []
        for f in ok:
            est, low, high = bands[f.model]
            values.append(est[i])
            if low is not None and high is not None:
                values += [low[i], high[i]]
            per_model.append(Prediction(
                c, f.model, est[i], low[i] if low else None, high[i] if high else None,
                _throughput(f, est[i], base_throughput), extra,
            ))
        if central is None:
            combined.append(Prediction(c, "none", None, None, None, None, extra))
            continue
        mid = bands[central.model][0][i]
        has_spread = len(ok) > 1 or bands[central.model][1] is not None
        combined.append(Prediction(
            c, central.model, mid, min(values) if has_spread else None,
            max(values) if has_spread else None, _throughput(central, mid, base_throughput), extra,
        ))
    return tuple(combined), tuple(per_model)


def _throughput(f: ModelFit, speedup: float, base_throughput: float | None) -> float | None:
    if base_throughput is None:
        return None
    return base_throughput * speedup / f.speedup(f.base_workers)
