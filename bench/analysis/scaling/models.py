"""Scaling models fitted to a worker sweep: Amdahl's law and the Universal Scalability Law (USL).

    Amdahl  S(n) = 1 / (s + (1 - s) / n)               serial fraction s in [0, 1]
    USL     S(n) = n / (1 + a (n - 1) + b n (n - 1))    contention a in [0, 1], coherency b >= 0

USL with b = 0 is Amdahl with s = a, so USL is the more general model and gives the central
prediction when it can be fitted. Measured speedups are relative to the smallest worker count of the
sweep (normally 1); the models are fitted to that ratio, S(n) / S(n0), so a sweep without a 1-worker
point is still used, and predictions are always speedup over 1 worker.

Identifiability: normalising to the base count uses up one observation, so a model with k
parameters needs k worker counts besides the base. Two counts fit Amdahl exactly (no error
estimate) and leave USL "not fitted"; three fit USL exactly; error estimates need one more.

Uncertainty band (`BAND_METHOD`): for each fitted model, a 95% confidence band for the curve from
the parameter covariance (least-squares Jacobian, residual variance with n - 1 - k degrees of
freedom), by drawing parameters from the multivariate Student t with those degrees of freedom,
clipping them to the physical bounds, and taking the 2.5% / 97.5% quantiles of S(cores). The range
reported per core count is the envelope of the fitted models' bands (an exact fit contributes its
point estimate), so it covers both parameter noise and the disagreement between models, which is
what dominates extrapolation from a few workers to 128. Draws use a fixed seed: same data, same
band.


Everything here is a pure function of plain data; the sweep file they are fitted from is
`bench.analysis.scaling.sweep`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

BAND_LEVEL = 0.95
BAND_DRAWS = 4000
BAND_SEED = 0
BOUND_TOL = 1e-9  # a parameter this close to a bound is reported as held by it
BAND_METHOD = (
    "95% band: per model, parameters drawn from a multivariate Student t (least-squares "
    "covariance, n-1-k degrees of freedom), clipped to their bounds, 2.5/97.5% quantiles of "
    "S(cores); the range is the envelope over the fitted models (an exact fit adds its point "
    "estimate)."
)

FITTED = "fitted"  # more observations than parameters: standard errors and a band
EXACT = "exact"  # as many informative observations as parameters: passes through them, no errors
NOT_FITTED = "not_fitted"  # fewer: under-determined


class ScalingInputError(BenchError):
    """Points a scaling model cannot be fitted to (no points, worker count < 1, speedup <= 0)."""


@dataclass(frozen=True)
class Point:
    """One measurement: speedup at `workers`, relative to the sweep's smallest worker count."""

    workers: int
    speedup: float


@dataclass(frozen=True)
class Param:
    """A fitted parameter; `stderr` is None for an exact fit, `at_bound` when a bound holds it."""

    name: str
    value: float
    stderr: float | None
    at_bound: bool = False


@dataclass(frozen=True)
class _Model:
    name: str
    params: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    starts: tuple[tuple[float, ...], ...]
    formula: str


MODELS: dict[str, _Model] = {
    "amdahl": _Model(
        "amdahl", ("s",), (0.0,), (1.0,), ((0.05,), (0.5,), (0.95,)), "S(n) = 1 / (s + (1 - s) / n)"
    ),
    "usl": _Model(
        "usl", ("a", "b"), (0.0, 0.0), (1.0, math.inf),
        ((0.05, 1e-4), (0.3, 1e-2), (0.01, 1e-6), (0.8, 0.1)),
        "S(n) = n / (1 + a (n - 1) + b n (n - 1))",
    ),
}


def amdahl(n: float, s: float) -> float:
    """Amdahl speedup over 1 worker at n workers for serial fraction s."""
    return 1.0 / (s + (1.0 - s) / n)


def usl(n: float, a: float, b: float) -> float:
    """USL speedup over 1 worker at n workers for contention a and coherency b."""
    return n / (1.0 + a * (n - 1.0) + b * n * (n - 1.0))


def curve_values(model: str, n: Any, theta: Any) -> Any:
    """The model on numpy arrays (broadcasts n against the parameters)."""
    if model == "amdahl":
        (s,) = theta
        return 1.0 / (s + (1.0 - s) / n)
    a, b = theta
    return n / (1.0 + a * (n - 1.0) + b * n * (n - 1.0))


@dataclass(frozen=True)
class ModelFit:
    """One model fitted to a sweep: parameters, goodness of fit, and how much the data pins it."""

    model: str
    status: str  # FITTED | EXACT | NOT_FITTED
    reason: str
    params: tuple[Param, ...]
    covariance: tuple[tuple[float, ...], ...] | None
    dof: int  # observations - 1 (normalisation) - parameters
    r2: float | None
    rmse: float | None
    base_workers: int

    @property
    def ok(self) -> bool:
        return self.status in (FITTED, EXACT)

    @property
    def formula(self) -> str:
        return MODELS[self.model].formula

    def value(self, name: str) -> float:
        return next(p.value for p in self.params if p.name == name)

    def speedup(self, n: float) -> float:
        """Modelled speedup over 1 worker at n workers; ScalingInputError if not fitted."""
        if not self.ok:
            raise ScalingInputError(f"{self.model} is not fitted: {self.reason}")
        return float(curve_values(self.model, float(n), [p.value for p in self.params]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "status": self.status, "reason": self.reason,
            "formula": self.formula,
            "params": {p.name: {"value": p.value, "stderr": p.stderr, "at_bound": p.at_bound}
                       for p in self.params},
            "covariance": [list(row) for row in self.covariance] if self.covariance else None,
            "dof": self.dof, "r2": self.r2, "rmse": self.rmse, "base_workers": self.base_workers,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelFit:
        params = tuple(
            Param(name, float(p["value"]), p.get("stderr"), bool(p.get("at_bound", False)))
            for name, p in (d.get("params") or {}).items()
        )
        cov = d.get("covariance")
        return cls(
            model=str(d["model"]), status=str(d["status"]), reason=str(d.get("reason", "")),
            params=params,
            covariance=tuple(tuple(float(x) for x in row) for row in cov) if cov else None,
            dof=int(d.get("dof", 0)), r2=d.get("r2"), rmse=d.get("rmse"),
            base_workers=int(d.get("base_workers", 1)),
        )


def _check_points(points: Sequence[Point]) -> tuple[Point, ...]:
    if not points:
        raise ScalingInputError("no sweep points to fit; run at least two worker counts")
    for p in points:
        if isinstance(p.workers, bool) or not isinstance(p.workers, int) or p.workers < 1:
            raise ScalingInputError(f"worker count must be an integer >= 1, got {p.workers!r}")
        sp = p.speedup
        if isinstance(sp, bool) or not isinstance(sp, (int, float)) or not math.isfinite(sp):
            raise ScalingInputError(
                f"speedup at {p.workers} workers must be a finite number, got {sp!r}"
            )
        if sp <= 0:
            raise ScalingInputError(
                f"speedup at {p.workers} workers is {sp}: a count with no completed trials has no "
                "speedup; drop it or rerun it with more trials"
            )
    return tuple(points)


def _normalised(points: Sequence[Point]) -> tuple[int, tuple[Point, ...]]:
    """Base count and speedups divided by the mean speedup at the base count."""
    base = min(p.workers for p in points)
    at_base = [p.speedup for p in points if p.workers == base]
    ref = sum(at_base) / len(at_base)
    return base, tuple(Point(p.workers, p.speedup / ref) for p in points)


def not_fitted(model: str, base: int, dof: int, reason: str) -> ModelFit:
    return ModelFit(model, NOT_FITTED, reason, (), None, dof, None, None, base)


def fit(model: str, points: Sequence[Point]) -> ModelFit:
    """Least-squares fit of `model` ("amdahl" | "usl") to the points, within physical bounds.

    Raises ScalingInputError for invalid points; returns status NOT_FITTED when too few worker
    counts pin the model's parameters.
    """
    import numpy as np
    from scipy.optimize import least_squares

    spec = MODELS[model]
    base, pts = _normalised(_check_points(points))
    k = len(spec.params)
    n_obs = len(pts)
    dof = n_obs - 1 - k
    informative = len({p.workers for p in pts if p.workers != base})
    if informative < k:
        have = informative + 1
        need = k + 1
        return not_fitted(
            model, base, dof,
            f"under-determined: {spec.name} has {k} parameter{'s' if k > 1 else ''} and needs "
            f"{need} distinct worker counts, the sweep has {have}",
        )
    n = np.array([p.workers for p in pts], dtype=float)
    y = np.array([p.speedup for p in pts], dtype=float)

    def residuals(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = curve_values(model, n, theta) / curve_values(model, float(base), theta) - y
        return out

    best = None
    for x0 in spec.starts:
        res = least_squares(
            residuals, np.array(x0, dtype=float), bounds=(spec.lower, spec.upper),
            x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=5000,
        )
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None
    theta = best.x
    rss = float(np.sum(best.fun**2))
    cov: NDArray[np.float64] | None = None
    if dof > 0:
        jac = best.jac
        cov = np.linalg.pinv(jac.T @ jac) * (rss / dof)
    at_bound = [
        math.isclose(v, lo, abs_tol=BOUND_TOL) or math.isclose(v, hi, abs_tol=BOUND_TOL)
        for v, lo, hi in zip(theta, spec.lower, spec.upper, strict=True)
    ]
    stderr = [math.sqrt(max(float(cov[i, i]), 0.0)) if cov is not None else None for i in range(k)]
    params = tuple(
        Param(name, float(v), se, ab)
        for name, v, se, ab in zip(spec.params, theta, stderr, at_bound, strict=True)
    )
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - rss / ss_tot if ss_tot > 0 else None
    rmse = math.sqrt(rss / n_obs)
    status, reason = FITTED, ""
    if dof == 0:
        status = EXACT
        reason = (
            f"exact: {informative + 1} worker counts for {k} parameter{'s' if k > 1 else ''}, "
            "no error estimate; add worker counts for one"
        )
    if any(at_bound):
        names = ", ".join(p.name for p in params if p.at_bound)
        reason = (reason + "; " if reason else "") + f"{names} held at its bound"
    return ModelFit(
        model=model, status=status, reason=reason, params=params,
        covariance=tuple(tuple(float(x) for x in row) for row in cov) if cov is not None else None,
        dof=dof, r2=r2, rmse=rmse, base_workers=base,
    )


def fit_amdahl(points: Sequence[Point]) -> ModelFit:
    """Amdahl's law fitted to the points (serial fraction s)."""
    return fit("amdahl", points)


def fit_usl(points: Sequence[Point]) -> ModelFit:
    """The Universal Scalability Law fitted to the points (contention a, coherency b)."""
    return fit("usl", points)
