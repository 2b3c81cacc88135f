"""The price catalog: VMs a projection is priced on, each dated and sourced. One reader for every
user of the catalog (the report's cost table, `bench sweep`'s core counts), one failure rule: a
catalog that cannot be read, or an entry without what a price needs to be trusted, is a
ConfigError (one line, exit 2), never a silent fallback.

An entry (a `[[vm]]` table; a bench.toml may hold them under `[prices]`):

    name = "Azure D4as_v7"     vcpus = 4              physical_cores = 2 | "unknown"
    price_per_hour = 0.20      currency = "USD"       kind = "on-demand" | "spot"
    region = "eastus"          as_of = 2026-11-01     source = "https://..." | "unverified"
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

SHIPPED = "bench/data/prices.toml"
VM_NAME = re.compile(r"[A-Za-z0-9 _.:/()+-]{1,64}")
SHIPPED_FILE = Path(__file__).resolve().parents[2] / "data" / "prices.toml"
UNVERIFIED = "unverified"
UNKNOWN = "unknown"
KINDS = ("on-demand", "spot")
# A price older than this is flagged in the report: list prices move more than the noise of a run.
STALE_DAYS = 365
REQUIRED = ("name", "vcpus", "physical_cores", "price_per_hour", "currency", "kind", "region",
            "as_of", "source")


@dataclass(frozen=True)
class VmPrice:
    """One catalog machine: its shape (vCPUs, physical cores or None when unknown), its price and
    where and when the price was read."""

    name: str
    vcpus: int
    physical_cores: int | None  # None: the catalog does not know whether the vCPUs are SMT threads
    price_per_hour: float
    currency: str
    kind: str
    region: str
    as_of: dt.date
    source: str

    @property
    def verified(self) -> bool:
        return self.source != UNVERIFIED

    @property
    def smt(self) -> bool | None:
        return None if self.physical_cores is None else self.physical_cores < self.vcpus

    def age_days(self, today: dt.date) -> int:
        return (today - self.as_of).days

    def stale(self, today: dt.date) -> bool:
        return self.age_days(today) > STALE_DAYS


@dataclass(frozen=True)
class Catalog:
    """The VMs of one catalog file and the name it was read from."""

    vms: tuple[VmPrice, ...]
    source: str

    def cores(self) -> tuple[int, ...]:
        """Every core count a projection may be asked for: vCPUs and known physical cores."""
        counts = {vm.vcpus for vm in self.vms}
        counts |= {vm.physical_cores for vm in self.vms if vm.physical_cores is not None}
        counts |= {max(1, vm.vcpus // 2) for vm in self.vms if vm.physical_cores is None}
        return tuple(sorted(counts))


def _fail(source: str, what: str) -> ConfigError:
    return ConfigError(f"price catalog {source}: {what}")


def _entry(e: Any, i: int, source: str) -> VmPrice:
    if not isinstance(e, dict):
        raise _fail(source, f"entry {i} is not a table")
    name = e.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(source, f"entry {i} needs a name")
    name = name.strip()
    if not VM_NAME.fullmatch(name):
        # Names are table headers of the report: no markup, no HTML.
        raise _fail(source, f"entry {i}: name {name[:40]!r} may hold only letters, digits, spaces and . _ - / ( ) + :")
    if "usd_per_hour" in e and "price_per_hour" not in e:
        raise _fail(source, f"{name}: usd_per_hour is now price_per_hour with currency = \"USD\"; "
                            "each entry also needs kind, region, as_of and source")
    missing = [k for k in REQUIRED if k not in e]
    if missing:
        raise _fail(source, f"{name}: missing {', '.join(missing)} (each entry needs "
                            f"{', '.join(REQUIRED)}; source = \"{UNVERIFIED}\" when you cannot cite one)")
    vcpus, cores, price = e["vcpus"], e["physical_cores"], e["price_per_hour"]
    if isinstance(vcpus, bool) or not isinstance(vcpus, int) or vcpus < 1:
        raise _fail(source, f"{name}: vcpus must be a positive integer, got {vcpus!r}")
    if cores == UNKNOWN:
        cores = None
    elif isinstance(cores, bool) or not isinstance(cores, int) or not 1 <= cores <= vcpus:
        raise _fail(source, f"{name}: physical_cores must be an integer from 1 to vcpus ({vcpus}) "
                            f"or \"{UNKNOWN}\", got {cores!r}")
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price) or price <= 0:
        raise _fail(source, f"{name}: price_per_hour must be a positive number, got {price!r}")
    text = {k: e[k] for k in ("currency", "kind", "region", "source")}
    for k, v in text.items():
        if not isinstance(v, str) or not v.strip():
            raise _fail(source, f"{name}: {k} must be a non-empty string, got {v!r}")
    if text["kind"] not in KINDS:
        raise _fail(source, f"{name}: kind must be one of {', '.join(KINDS)}, got {text['kind']!r}")
    as_of = e["as_of"]
    if isinstance(as_of, str):
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            raise _fail(source, f"{name}: as_of must be a date (YYYY-MM-DD), got {as_of!r}") from None
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    if not isinstance(as_of, dt.date):
        raise _fail(source, f"{name}: as_of must be a date (YYYY-MM-DD), got {as_of!r}")
    return VmPrice(name, vcpus, cores, float(price), text["currency"].strip(), text["kind"],
                   text["region"].strip(), as_of, text["source"].strip())


def parse_catalog(data: dict[str, Any], source: str) -> Catalog:
    """The catalog in a parsed TOML document (top-level `[[vm]]`, or `[[prices.vm]]`)."""
    section = data["prices"] if isinstance(data.get("prices"), dict) else data
    entries = section.get("vm")
    if not isinstance(entries, list) or not entries:
        raise _fail(source, f"no [[vm]] entries ({', '.join(REQUIRED)})")
    vms = tuple(_entry(e, i, source) for i, e in enumerate(entries, 1))
    names = [vm.name for vm in vms]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _fail(source, f"{', '.join(twice)} listed twice")
    return Catalog(vms, source)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog in `path`, or the one shipped in bench/data/prices.toml; ConfigError if it cannot
    be read or an entry is incomplete."""
    from bench.records.files import read_toml

    source = SHIPPED if path is None else str(path)
    data = read_toml(SHIPPED_FILE if path is None else Path(path), "price catalog", ConfigError)
    return parse_catalog(data, source)


def catalog_cores(path: str | Path | None = None) -> tuple[tuple[int, ...], str]:
    """The core counts a sweep predicts at (every vCPU and physical-core count of the catalog) and
    where they came from; a bad catalog is a ConfigError, as for the report."""
    cat = load_catalog(path)
    return cat.cores(), f"price catalog {cat.source}"
