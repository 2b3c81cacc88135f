"""Cost model: what 100 trials cost under each strategy, measured here and projected on catalog VMs.

Measured figures come from this results directory alone. Projections go through a ScalingModel;
the default assumes the measured efficiency holds up to a VM's vCPUs (see its `assumption`). A
fitted scaling curve (`bench sweep`) can replace it by passing another model to `cost_rows`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from bench.errors import ConfigError

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
    assumption = (
        "Projected, not measured. A VM's core is as fast as one here (the sequential run's trials "
        "per second); process-based strategies (pool, joblib-loky, ray, islands, optuna-journal) "
        "run one worker per vCPU at the useful efficiency measured here, capped at 100%, so "
        "speedup = efficiency x vCPUs; thread-based strategies keep the speedup measured here, "
        "up to the vCPUs (their trials share one interpreter, and this run gives no evidence they "
        "would scale further); sequential stays at 1x. Start-up is left out. A fitted scaling "
        "curve (`bench sweep`) replaces this."
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
