"""Cost model: what 100 trials cost under each strategy, measured here and projected on catalog VMs.

Measured figures come from this results directory alone. Projections go through a ScalingModel;
the default assumes the measured efficiency holds up to a VM's vCPUs (see its `assumption`). A
saved `bench sweep` replaces it for the run the sweep measured (`SweepFit`, `sweep_model`): that
run's speedup on a VM is the sweep's fitted curve at the VM's vCPUs.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench.config.labels import split
from bench.errors import ConfigError, ResultsError

if TYPE_CHECKING:
    from bench.analysis.scaling import Prediction

# Cost and wall are quoted per this many completed trials.
TRIALS_PER_QUOTE = 100


@dataclass(frozen=True)
class VmPrice:
    """One catalog machine: a name, its vCPUs and its on-demand price."""

    name: str
    vcpus: int
    usd_per_hour: float


def _parse_catalog(data: dict[str, Any], source: str) -> list[VmPrice]:
    # A catalog file holds [[vm]] tables; a bench.toml may hold them under [prices].
    section = data.get("prices", data) if isinstance(data.get("prices"), dict) else data
    entries = section.get("vm")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(
            f"price catalog {source} has no [[vm]] entries (name, vcpus, usd_per_hour)"
        )
    out = []
    for i, e in enumerate(entries, 1):
        if not isinstance(e, dict):
            raise ConfigError(f"price catalog {source}: entry {i} is not a table")
        name, vcpus, price = e.get("name"), e.get("vcpus"), e.get("usd_per_hour")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"price catalog {source}: entry {i} needs a name")
        if isinstance(vcpus, bool) or not isinstance(vcpus, int) or vcpus < 1:
            raise ConfigError(
                f"price catalog {source}: {name}: vcpus must be a positive integer, got {vcpus!r}"
            )
        if isinstance(price, bool) or not isinstance(price, (int, float)) or price <= 0:
            raise ConfigError(
                f"price catalog {source}: {name}: usd_per_hour must be a positive number, "
                f"got {price!r}"
            )
        out.append(VmPrice(name.strip(), vcpus, float(price)))
    return out


def load_catalog(path: str | Path | None = None) -> list[VmPrice]:
    """The VMs of a catalog file, or of the catalog shipped in bench/data/prices.toml."""
    try:
        if path is None:
            text = resources.files("bench").joinpath("data/prices.toml").read_text()
            source = "bench/data/prices.toml"
        else:
            source = str(path)
            text = Path(path).read_text()
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"price catalog {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read price catalog {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in price catalog {path}: {exc}") from None
    return _parse_catalog(data, source)


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
    """One run's strategy on one catalog VM, projected by a ScalingModel (not measured)."""

    label: str
    vm: VmPrice
    speedup: float | None
    wall_per_quote_s: float | None
    usd_per_quote: float | None


class ScalingModel(Protocol):
    """How a strategy's speedup over sequential grows with cores; replaceable by a fitted curve."""

    name: str
    assumption: str

    def speedup(self, run: MeasuredCost, vcpus: int) -> float | None: ...


class MeasuredEfficiency:
    """Default projection: measured efficiency held constant for process strategies; no growth
    for threads and the sequential baseline (one interpreter: the measured point is all we know)."""

    name = "measured efficiency"
    # The rule alone, for a model that applies it to some runs only (SweepFit).
    rules = (
        "A VM's core is as fast as one here (the sequential run's trials per second); "
        "process-based strategies (pool, joblib-loky, ray, islands, optuna-journal) run one worker "
        "per vCPU at the useful efficiency measured here, capped at 100%, so speedup = efficiency "
        "x vCPUs; thread-based strategies keep the speedup measured here, up to the vCPUs (their "
        "trials share one interpreter, and this run gives no evidence they would scale further); "
        "sequential stays at 1x. Start-up is left out."
    )
    assumption = (
        f"Projected, not measured. {rules} A fitted scaling curve replaces this for the run it was "
        "measured for: `bench report RESULTS_DIR --sweep SWEEP_DIR`."
    )

    def speedup(self, run: MeasuredCost, vcpus: int) -> float | None:
        if run.kind == "inline":
            return 1.0
        if run.kind == "threads":
            return None if run.speedup is None else min(run.speedup, float(vcpus))
        if run.kind in ("processes", "ray") and run.efficiency is not None:
            # An efficiency above 100% here means a slower baseline, not a faster worker.
            return min(run.efficiency, 1.0) * vcpus
        return None


def measured_cost(
    label: str,
    kind: str,
    workers: int,
    trials_done: int,
    throughput: float | None,
    startup: float | None,
    speedup: float | None,
    efficiency: float | None,
    core_s_per_trial: float | None,
    price_per_hour: float | None,
) -> MeasuredCost:
    wall = None
    if throughput:
        wall = (startup or 0.0) + TRIALS_PER_QUOTE / throughput
    usd = None if wall is None or price_per_hour is None else wall / 3600.0 * price_per_hour
    return MeasuredCost(
        label,
        kind,
        workers,
        trials_done,
        throughput,
        startup,
        speedup,
        efficiency,
        core_s_per_trial,
        wall,
        usd,
    )


def project(
    runs: Sequence[MeasuredCost],
    catalog: Sequence[VmPrice],
    baseline_throughput: float | None,
    model: ScalingModel | None = None,
) -> list[ProjectedCost]:
    """Every run on every catalog VM: trials/s = sequential trials/s x the model's speedup."""
    model = model or MeasuredEfficiency()
    out = []
    for run in runs:
        for vm in catalog:
            sp = model.speedup(run, vm.vcpus) if baseline_throughput else None
            wall = (
                TRIALS_PER_QUOTE / (baseline_throughput * sp)
                if sp and baseline_throughput
                else None
            )
            usd = None if wall is None else wall / 3600.0 * vm.usd_per_hour
            out.append(ProjectedCost(run.label, vm, sp, wall, usd))
    return out


MODEL_NAMES = {"usl": "USL", "amdahl": "Amdahl"}
# Settings of the search that change how long a trial is, and with it how dispatch weighs.
_WORKLOAD_KEYS = ("objective", "mode", "population", "generations", "seeds")


def _x(v: float) -> str:
    return f"{v:.1f}x" if v < 100 else f"{v:.0f}x"


class SweepFit:
    """Projection from a saved `bench sweep`: the run the sweep measured (same strategy, thread
    policy and start method) gets the fitted curve's speedup at the VM's vCPUs; every other run
    keeps `fallback`, and the assumption line says which is which."""

    def __init__(
        self,
        sweep: Mapping[str, Any],
        label: str,
        source: str,
        vcpus: Sequence[int],
        fallback: ScalingModel | None = None,
        others: Sequence[str] = (),
        notes: Sequence[str] = (),
    ) -> None:
        self.sweep = sweep
        self.label = label
        self.fallback = fallback or MeasuredEfficiency()
        self._at: dict[int, Prediction] = {}
        shown = sorted(set(vcpus))
        preds = [self.prediction(v) for v in shown]
        if not preds or any(p.speedup is None for p in preds):
            why = "; ".join(str(n) for n in sweep.get("notes") or []) or "no fit"
            raise ResultsError(
                f"sweep {source} has no fitted scaling model ({why}); rerun `bench sweep` "
                "with worker counts that complete trials, at least two"
            )
        model = MODEL_NAMES.get(preds[0].model, preds[0].model)
        strategy = str(sweep.get("strategy"))
        workers = ",".join(str(w) for w in sweep.get("fitted_workers") or [])
        top = max((int(w) for w in sweep.get("fitted_workers") or []), default=0)
        at = ", ".join(f"at {p.cores} cores {_x(p.speedup or 0.0)} {self._band(p, top)}" for p in preds)
        extrapolated = [p.cores for p in preds if p.extrapolated]
        self.name = f"{model} fit of the `{strategy}` sweep for `{label}`; {self.fallback.name} for the other runs"
        text = [
            "Projected, not measured.",
            f"`{label}`: projected with the {model} fit of the `{strategy}` sweep ({workers} "
            f"workers, `{source}`): speedup {at}.",
            "The fit's speedup over one worker is taken as the speedup over this run's sequential "
            "baseline, one worker per vCPU; start-up is left out.",
        ]
        if extrapolated:
            text.append(
                f"{', '.join(map(str, extrapolated))} cores extrapolate beyond the {top} workers "
                "measured: read them as an upper end (memory bandwidth, NUMA and SMT limits are "
                "not in the fit)."
            )
        text += list(notes)
        rest = ", ".join(f"`{o}`" for o in others if o != label)
        if rest:
            rules = getattr(self.fallback, "rules", self.fallback.assumption)
            text.append(f"Other runs ({rest}): {self.fallback.name}, not the fit. {rules}")
        self.assumption = " ".join(text)

    def _band(self, p: Prediction, top: int) -> str:
        if p.low is not None and p.high is not None:
            return f"[band {p.low:.1f}–{p.high:.1f}]"
        from bench.analysis.scaling import EXACT_SENSITIVITY, exact_sensitivity

        moved = exact_sensitivity(self.sweep, p.cores)
        if moved is None:
            return "[no band: exact fit]"
        return (
            f"[no band: exact fit; {_x(moved[0])}–{_x(moved[1])} if the {top}-worker speedup "
            f"were {EXACT_SENSITIVITY:.0%} lower or higher]"
        )

    def prediction(self, vcpus: int) -> Prediction:
        """The sweep's combined prediction (central model and band) at `vcpus` cores."""
        from bench.analysis.scaling import speedup_at

        if vcpus not in self._at:
            self._at[vcpus] = speedup_at(self.sweep, vcpus)
        return self._at[vcpus]

    def speedup(self, run: MeasuredCost, vcpus: int) -> float | None:
        if run.label != self.label:
            return self.fallback.speedup(run, vcpus)
        return self.prediction(vcpus).speedup


def _spec(label: str, threads: Any, start_method: Any) -> tuple[str, str, str]:
    """(strategy, thread policy, start method) of a run label, unset parts from its config."""
    name, policy, start = split(label)
    return name, str(policy or threads or "auto"), str(start or start_method or "fork")


def _describe(spec: tuple[str, str, str]) -> str:
    return f"{spec[0]} with threads {spec[1]}, start method {spec[2]}"


def sweep_model(
    sweep: Mapping[str, Any],
    source: str,
    runs: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Any],
    machine: Mapping[str, Any],
    vcpus: Sequence[int],
    fallback: ScalingModel | None = None,
) -> SweepFit:
    """The SweepFit for a results directory (its `runs` records, run config and machine), applied
    to the run the sweep measured; ResultsError when the results hold no such run."""
    swept_cfg = sweep.get("config") or {}
    swept = _spec(str(sweep.get("strategy") or "?"), swept_cfg.get("threads"), swept_cfg.get("start_method"))
    specs = {
        label: (
            str(rec.get("strategy") or _spec(label, None, None)[0]),
            str(rec.get("threads_policy") or _spec(label, config.get("threads"), None)[1]),
            str(rec.get("start_method") or _spec(label, None, config.get("start_method"))[2]),
        )
        for label, rec in runs.items()
    }
    match = next((label for label, spec in specs.items() if spec == swept), None)
    if match is None:
        same = [(label, spec) for label, spec in specs.items() if spec[0] == swept[0]]
        if same:
            have = ", ".join(f"`{label}` ({_describe(spec)})" for label, spec in same)
            raise ResultsError(
                f"sweep {source} measured {_describe(swept)}; the results have {have}: a fit "
                f"carries over only to the same thread policy and start method (sweep that "
                f"variant: bench sweep --strategy {same[0][0]})"
            )
        raise ResultsError(
            f"sweep {source} measured `{swept[0]}`, which is not a run in these results "
            f"(runs: {', '.join(runs) or 'none'}); pass a sweep of one of them"
        )
    notes = []
    theirs, ours = (sweep.get("machine") or {}).get("id"), machine.get("id")
    if theirs and ours and theirs != ours:
        notes.append(
            f"The sweep ran on another machine (fingerprint `{theirs}`, these results `{ours}`): "
            "its curve is applied to this machine's sequential rate."
        )
    differ = [
        f"{k} {swept_cfg.get(k)} vs {config.get(k)}" for k in _WORKLOAD_KEYS
        if k in swept_cfg and k in config and swept_cfg.get(k) != config.get(k)
    ]
    if differ:
        notes.append(
            f"The sweep searched another workload ({'; '.join(differ)}): trial length changes how "
            "much dispatch and start-up weigh, so the fit may not carry over."
        )
    return SweepFit(sweep, match, source, vcpus, fallback, others=list(runs), notes=notes)

