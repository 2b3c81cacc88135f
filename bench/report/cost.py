"""Cost figures of the report: what 100 trials cost under each strategy, measured here, and
projected on catalog VMs by the one projection rule of bench.analysis.cost.projection (every
projected figure with its band)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bench.analysis.cost import projection as pj
from bench.analysis.cost.catalog import Catalog, VmPrice, load_catalog
from bench.analysis.cost.projection import Estimate
from bench.analysis.cost.sweeps import Matched
from bench.analysis.scaling import EXACT_SENSITIVITY

__all__ = ["TRIALS_PER_QUOTE", "Catalog", "MeasuredCost", "ProjectedCost", "ScalingModel", "VmPrice",
           "load_catalog", "measured_cost", "project"]

# Cost and wall are quoted per this many completed trials.
TRIALS_PER_QUOTE = 100


@dataclass(frozen=True)
class MeasuredCost:
    """One run's cost figures on this machine, every one measured in this results directory."""

    label: str
    kind: str
    workers: int
    trials_done: int
    throughput: float | None  # completed trials per second over the work phase
    startup: float | None
    speedup: float | None
    efficiency: float | None
    core_s_per_trial: float | None  # CPU core-seconds actually used per completed trial
    wall_per_quote_s: float | None  # one start-up + TRIALS_PER_QUOTE trials at the measured rate
    usd_per_quote: float | None  # at --price-per-hour for this machine (None without a price)


@dataclass(frozen=True)
class ProjectedCost:
    """One run's strategy on one catalog VM, projected (not measured): each figure with its band
    (low, high); wall and cost bands follow from the speedup band."""

    label: str
    vm: VmPrice
    estimate: Estimate | None
    wall_per_quote_s: tuple[float, float, float] | None  # (central, low, high)
    cost_per_quote: tuple[float, float, float] | None  # in vm.currency

    @property
    def speedup(self) -> float | None:
        return None if self.estimate is None else self.estimate.speedup


class ScalingModel(Protocol):
    """How a run's speedup over sequential is projected on a VM; the report's default is the one
    rule of bench.analysis.cost.projection (`DefaultModel`)."""

    name: str
    assumption: str

    def estimate(self, run: MeasuredCost, vm: VmPrice) -> Estimate | None: ...


def measured_cost(
    label: str, kind: str, workers: int, trials_done: int, throughput: float | None,
    startup: float | None, speedup: float | None, efficiency: float | None,
    core_s_per_trial: float | None, price_per_hour: float | None,
) -> MeasuredCost:
    wall = None
    if throughput:
        wall = (startup or 0.0) + TRIALS_PER_QUOTE / throughput
    usd = None if wall is None or price_per_hour is None else wall / 3600.0 * price_per_hour
    return MeasuredCost(label, kind, workers, trials_done, throughput, startup, speedup, efficiency,
                        core_s_per_trial, wall, usd)


def project(
    runs: Sequence[MeasuredCost], catalog: Sequence[VmPrice], baseline_throughput: float | None,
    model: ScalingModel,
) -> list[ProjectedCost]:
    """Every run on every catalog VM: trials/s = sequential trials/s x the projected speedup."""
    out = []
    for run in runs:
        for vm in catalog:
            est = model.estimate(run, vm) if baseline_throughput else None
            if est is None or not baseline_throughput or est.low <= 0:
                out.append(ProjectedCost(run.label, vm, est, None, None))
                continue
            # Higher speedup, shorter wall: the band's ends swap.
            def wall_at(speedup: float) -> float:
                return TRIALS_PER_QUOTE / (baseline_throughput * speedup)

            wall = (wall_at(est.speedup), wall_at(est.high), wall_at(est.low))
            per_s = vm.price_per_hour / 3600.0
            cost = (wall[0] * per_s, wall[1] * per_s, wall[2] * per_s)
            out.append(ProjectedCost(run.label, vm, est, wall, cost))
    return out


MODEL_NAMES = {"usl": "USL", "amdahl": "Amdahl"}
# A swept run whose efficiency here and in its sweep differ by more than this share is named.
LEVEL_DRIFT = 0.10


def _x(v: float) -> str:
    """A projected speedup to the precision its band allows: 9.85 -> 9.8×, 20.1 -> 20×."""
    return f"{v:.1f}×" if v < 10 else f"{v:.0f}×"


def band_text(est: Estimate) -> str:
    """"9.8× (6.3–20×)": a projected speedup always with its band."""
    if est.method == pj.BASELINE:
        return "1.00× (baseline)"
    if est.method == pj.HELD:
        return f"{est.speedup:.2f}× (held, not scaled)"
    return f"{_x(est.speedup)} ({_x(est.low)[:-1]}–{_x(est.high)})"


class DefaultModel:
    """The report's projection rule with the sweeps matched to its runs; `name` and `assumption`
    say which row used which model."""

    def __init__(self, machine: Mapping[str, Any], matched: Matched | None = None,
                 base_names: Mapping[str, str] | None = None, preface: str = "") -> None:
        self.matched = matched or Matched({}, {}, ())
        self.machine = pj.Machine.from_record(machine)
        self.rule = pj.Projection(self.machine, self.matched.curves, base_names)
        self.preface = preface
        if self.matched.curves:
            fits = ", ".join(f"`{lb}`" for lb in self.matched.curves)
            self.name = f"sweep shape of {fits} × each run's measured efficiency"
        else:
            self.name = "measured efficiency held, band to the two-point Amdahl law"
        self.assumption = ""

    def estimate(self, run: MeasuredCost, vm: VmPrice) -> Estimate | None:
        return self.rule.estimate(run, vm)

    def describe(self, est: Estimate | None) -> str:
        """The model column of a row: which rule and which curve gave its figures."""
        if est is None:
            return "not projected: no speedup measured at 2 or more workers"
        if est.method == pj.BASELINE:
            return "baseline (1×)"
        if est.method == pj.HELD:
            return "measured speedup held (one interpreter)"
        if est.method == pj.EFFICIENCY_HELD:
            return "efficiency held; band: two-point Amdahl"
        curve = self.matched.curves[est.shape_of or ""]
        model = MODEL_NAMES.get(curve.model(), curve.model())
        workers = ",".join(map(str, curve.workers()))
        whose = "own sweep" if est.method == pj.OWN_FIT else f"shape of `{est.shape_of}` sweep"
        return f"{model} fit, {whose} ({workers} workers) × own efficiency"

    def explain(self, used: Sequence[str], catalog_cores_known: bool,
                runs: Sequence[MeasuredCost] = ()) -> str:
        """The assumption line under the table."""
        m = self.machine
        smt = {True: "SMT on", False: "no SMT", None: "SMT unknown"}[m.smt]
        text = [self.preface, "Projected, not measured.",
                "A VM's core is taken as fast as one here (the sequential run's trials per second); "
                "start-up is left out. CPU-bound process strategies (pool, joblib-loky, ray, islands, "
                "optuna-journal) scale with the VM's physical cores, one worker per core, not with "
                "its vCPUs: a second worker on an SMT sibling adds little to CPU-bound work. "
                f"This machine: {m.physical_cores or '?'} physical of {m.logical_cores or '?'} "
                f"logical cores, {smt}"
                + ("; with SMT on, the efficiency measured here is per physical core used."
                   if m.smt else "; each worker here had a core of its own.")]
        if not catalog_cores_known:
            text.append("A VM whose physical cores the catalog does not know is projected at "
                        "vCPUs / 2 (SMT assumed) and its band reaches to the figure at all vCPUs.")
        if pj.EFFICIENCY_HELD in used:
            text.append(
                "No sweep: every process row keeps its measured useful efficiency (capped at 100%) "
                "on each physical core; its band runs down to the Amdahl law through the same run's "
                f"two worker counts (sequential and W workers), whose W-worker speedup is moved "
                f"±{EXACT_SENSITIVITY:.0%}: two points cannot tell linear scaling from a serial "
                "part, so read the upper end as a best case.")
        if pj.OWN_FIT in used or pj.SHAPE in used:
            srcs = "; ".join(f"`{lb}`: {self.matched.sources[lb]}" for lb in self.matched.curves)
            text.append(
                "Every process row takes the shape of a fitted sweep curve (its own sweep's, else "
                "its base strategy's, else the first sweep's: the model column says which) and its "
                "level from its own useful efficiency at its W workers in this run: S(n) = fit(n) × "
                "efficiency here / fit's efficiency at W, so runs that measured the same efficiency "
                "side by side project the same speedup. Band: the fit's 95% band, or for an exact "
                f"fit (as many worker counts as parameters) what a ±{EXACT_SENSITIVITY:.0%} move "
                f"of its top point does. Sweeps: {srcs}. Core counts beyond the largest swept count "
                "extrapolate: memory bandwidth, NUMA and SMT limits are not in the fit.")
        if pj.HELD in used:
            text.append("Thread strategies keep the speedup measured here: their trials share one "
                        "interpreter and this run gives no evidence they would scale further.")
        text += self._level_notes(runs)
        text += list(self.matched.notes)
        return " ".join(t for t in text if t)

    def _level_notes(self, runs: Sequence[MeasuredCost]) -> list[str]:
        """Where a swept run's own level here and its sweep's disagree (drift between the two
        measurements), say so: the level used is this run's."""
        out = []
        for run in runs:
            curve = self.matched.curves.get(run.label)
            if curve is None or run.speedup is None or run.workers < 2:
                continue
            used = self.machine.cores_used(run.workers)
            here = min(run.speedup / used, 1.0)
            swept = curve.at(used)[0] / used
            if abs(here - swept) > LEVEL_DRIFT * swept:
                out.append(
                    f"`{run.label}` ran at {here:.0%} useful efficiency with {run.workers} workers "
                    f"in this run and at {swept:.0%} in its sweep: the machine or the run differed "
                    "between the two; the level used is this run's, measured beside the others.")
        return out


def catalog_notes(catalog: Catalog, today: dt.date) -> list[str]:
    """One line per catalog entry: region, kind, price, date and source; stale and unverified
    entries flagged."""
    out = []
    for vm in catalog.vms:
        cores = "physical cores unknown" if vm.physical_cores is None else (
            f"{vm.physical_cores} physical cores" + (" (SMT)" if vm.smt else " (no SMT)"))
        flags = []
        if not vm.verified:
            flags.append("⚠️ unverified price: no source cited")
        if vm.stale(today):
            flags.append(f"⚠️ price over a year old ({vm.age_days(today)} days)")
        src = vm.source if vm.verified else "unverified"
        out.append(
            f"- {vm.name}: {vm.vcpus} vCPUs, {cores}; {vm.price_per_hour:g} {vm.currency}/h "
            f"{vm.kind}, region {vm.region}, as of {vm.as_of.isoformat()}; source: {src}"
            + (f" — {'; '.join(flags)}" if flags else "")
        )
    return out
