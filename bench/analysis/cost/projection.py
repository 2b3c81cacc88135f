"""How a run measured here is projected onto a catalog VM: one rule for every process strategy of a
report, a band on every projected speedup, and cores counted as physical cores.

The rule, by the evidence a report holds:

- no sweep: every process row keeps its measured efficiency on each physical core
  (`EFFICIENCY_HELD`); its band runs from that figure to the Amdahl law through the same run's two
  worker counts (sequential = 1 worker, and the W-worker run), with that exact fit's top point
  moved by ±`EXACT_SENSITIVITY`;
- one or more sweeps: every process row takes the *shape* of a fitted curve (its own sweep's
  when it has one, else the sweep of the same base strategy, else the report's first sweep) and
  its *level* from its own measured efficiency at its W workers: S(n) = fit(n) × e_W / fit_e(W),
  so two runs that measured the same efficiency side by side project the same speedup. The band
  is the fit's band (or, for an exact fit, what a ±5% move of its top point does), scaled alike.

Thread strategies keep the speedup measured here (their trials share one interpreter; nothing here
says they would scale further) and the sequential baseline stays 1×: neither is extrapolated.

Cores: a CPU-bound worker per SMT thread does not scale like a worker per core, so process rows
scale with the VM's physical cores (a catalog entry whose physical cores are unknown is projected
at vCPUs / 2, SMT assumed, and its band reaches to the figure at all vCPUs). The measured
machine's own SMT state sets how many cores the W workers here had: with SMT on, W workers on
fewer physical cores shared them, and the efficiency is taken per physical core used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bench.analysis.cost.catalog import VmPrice
from bench.analysis.scaling import EXACT_SENSITIVITY, ModelFit, amdahl, speedup_at
from bench.analysis.scaling.sweep import moved_fits
from bench.records.kinds import WORKER_KINDS, Kind

BASELINE = "baseline"
HELD = "held"
EFFICIENCY_HELD = "efficiency held"
OWN_FIT = "own sweep"
SHAPE = "sweep shape"


class RunFigures(Protocol):
    """What the projection reads of one measured run."""

    @property
    def label(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def workers(self) -> int: ...
    @property
    def speedup(self) -> float | None: ...


@dataclass(frozen=True)
class Estimate:
    """A projected speedup over this machine's sequential run, its band, and which rule gave it."""

    speedup: float
    low: float
    high: float
    method: str  # BASELINE | HELD | EFFICIENCY_HELD | OWN_FIT | SHAPE
    cores: int  # the core count the speedup was scaled to
    shape_of: str | None = None  # the run whose sweep gave the curve (OWN_FIT, SHAPE)


@dataclass(frozen=True)
class Machine:
    """The measured machine's cores, as probes/machine.py records them."""

    physical_cores: int | None
    logical_cores: int | None
    smt: bool | None

    @classmethod
    def from_record(cls, m: Mapping[str, Any]) -> Machine:
        def count(key: str) -> int | None:
            v = m.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None

        smt = m.get("smt")
        return cls(count("physical_cores"), count("logical_cores"),
                   smt if isinstance(smt, bool) else None)

    def cores_used(self, workers: int) -> int:
        """Physical cores W workers had here: W, unless SMT put several on one core."""
        if self.smt and self.physical_cores:
            return max(1, min(workers, self.physical_cores))
        return workers


def amdahl_two_point(workers: int, speedup: float) -> float:
    """Serial fraction of the Amdahl law through (1, 1) and (workers, speedup), clipped to [0, 1]."""
    s = (workers / speedup - 1.0) / (workers - 1.0)
    return min(1.0, max(0.0, s))


class Curve:
    """A fitted speedup curve of one swept run, read from its sweep (see `strategy_sweeps`)."""

    def __init__(self, sweep: Mapping[str, Any], label: str) -> None:
        self.sweep, self.label = sweep, label
        self._cache: dict[int, tuple[float, float, float, str]] = {}
        self._moved: tuple[ModelFit, ModelFit] | None | bool = False  # False: not computed yet

    def at(self, n: int) -> tuple[float, float, float, str]:
        """(estimate, low, high, band kind) at n cores; band kind "band" (the fit's 95% band),
        "exact" (±EXACT_SENSITIVITY of the top point) or "none" (no band could be made)."""
        if n not in self._cache:
            p = speedup_at(self.sweep, n)
            if p.speedup is None:
                raise ValueError(f"the sweep of {self.label} has no fitted model")
            if p.low is not None and p.high is not None:
                self._cache[n] = (p.speedup, p.low, p.high, "band")
            else:
                if self._moved is False:
                    self._moved = moved_fits(self.sweep, p.model)
                fits = self._moved
                if isinstance(fits, tuple):
                    ends = sorted(f.speedup(float(n)) for f in fits)
                    self._cache[n] = (p.speedup, ends[0], ends[1], "exact")
                else:
                    self._cache[n] = (p.speedup, p.speedup, p.speedup, "none")
        return self._cache[n]

    def model(self) -> str:
        return speedup_at(self.sweep, 1).model

    def workers(self) -> list[int]:
        return [int(w) for w in self.sweep.get("fitted_workers") or []]


def _vm_cores(vm: VmPrice) -> tuple[int, int | None]:
    """(cores a CPU-bound process row scales to, the other end when physical cores are unknown)."""
    if vm.physical_cores is not None:
        return vm.physical_cores, None
    return max(1, vm.vcpus // 2), vm.vcpus


class Projection:
    """The report's one projection rule (module doc), given the sweeps matched to its runs."""

    def __init__(self, machine: Machine, curves: Mapping[str, Curve] | None = None,
                 base_names: Mapping[str, str] | None = None) -> None:
        self.machine = machine
        self.curves = dict(curves or {})
        self.base_names = dict(base_names or {})

    def shape_for(self, run: RunFigures) -> Curve | None:
        """The curve that gives `run` its shape: its own, its base strategy's, else the first."""
        if not self.curves:
            return None
        if run.label in self.curves:
            return self.curves[run.label]
        base = self.base_names.get(run.label, run.label)
        same = [c for lb, c in self.curves.items() if self.base_names.get(lb, lb) == base]
        return same[0] if same else next(iter(self.curves.values()))

    def estimate(self, run: RunFigures, vm: VmPrice) -> Estimate | None:
        """The projected speedup of `run` on `vm`, or None when the run gives nothing to scale."""
        if run.kind == Kind.INLINE:
            return Estimate(1.0, 1.0, 1.0, BASELINE, vm.vcpus)
        if run.speedup is None or run.speedup <= 0:
            return None
        if run.kind == "threads":
            held = min(run.speedup, float(vm.vcpus))
            return Estimate(held, held, held, HELD, vm.vcpus)
        if run.kind not in WORKER_KINDS or run.workers < 2:
            return None
        used = self.machine.cores_used(run.workers)
        efficiency = min(run.speedup / used, 1.0)
        n, alt = _vm_cores(vm)
        curve = self.shape_for(run)
        if curve is None:
            est, low, high = self._efficiency_held(used, efficiency, n)
            if alt is not None:
                a_est, a_low, a_high = self._efficiency_held(used, efficiency, alt)
                low, high = min(low, a_low), max(high, a_high)
            return Estimate(est, low, high, EFFICIENCY_HELD, n)
        est, low, high = self._shaped(curve, used, efficiency, n)
        if alt is not None:
            _, a_low, a_high = self._shaped(curve, used, efficiency, alt)
            low, high = min(low, a_low), max(high, a_high)
        method = OWN_FIT if curve.label == run.label else SHAPE
        return Estimate(est, low, high, method, n, curve.label)

    @staticmethod
    def _efficiency_held(used: int, efficiency: float, n: int) -> tuple[float, float, float]:
        est = efficiency * n
        measured = efficiency * used
        if used < 2:
            return est, est, est
        ends = [est] + [
            amdahl(n, amdahl_two_point(used, min(measured * f, float(used))))
            for f in (1.0 - EXACT_SENSITIVITY, 1.0, 1.0 + EXACT_SENSITIVITY)
        ]
        return est, min(ends), max(ends)

    @staticmethod
    def _shaped(curve: Curve, used: int, efficiency: float, n: int) -> tuple[float, float, float]:
        at_w = curve.at(used)[0] / used
        ratio = efficiency / at_w if at_w > 0 else 1.0
        est, low, high, _ = curve.at(n)
        cap = float(n)
        return min(est * ratio, cap), min(low * ratio, cap), min(high * ratio, cap)
