"""The price catalog: one reader for the report and the sweep; every entry dated, located and
sourced; an incomplete entry is one clear line and exit 2, never a silent fallback."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.analysis.cost.catalog import STALE_DAYS, catalog_cores, load_catalog, parse_catalog
from bench.cli import main
from bench.errors import ConfigError

FULL = {
    "name": '"Box 8"', "vcpus": "8", "physical_cores": "4", "price_per_hour": "0.40",
    "currency": '"USD"', "kind": '"on-demand"', "region": '"us-east-1"', "as_of": "2026-11-01",
    "source": '"unverified"',
}


def entry(**override: str | None) -> str:
    fields = {**FULL, **override}
    return "[[vm]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)


def write(tmp_path: Path, *entries: str, name: str = "prices.toml") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(entries))
    return path


def test_a_complete_entry_loads_with_every_field(tmp_path: Path) -> None:
    cat = load_catalog(write(tmp_path, entry(), entry(name='"Box 16"', vcpus="16",
                                                      physical_cores='"unknown"', kind='"spot"',
                                                      source='"https://example.invalid/p"')))
    a, b = cat.vms
    assert (a.name, a.vcpus, a.physical_cores, a.smt, a.price_per_hour) == ("Box 8", 8, 4, True, 0.40)
    assert (a.currency, a.kind, a.region, a.as_of) == ("USD", "on-demand", "us-east-1", dt.date(2026, 11, 1))
    assert not a.verified and b.verified and b.kind == "spot"
    assert b.physical_cores is None and b.smt is None
    # vCPUs, physical cores, and vcpus / 2 for the entry whose cores are unknown
    assert cat.cores() == (4, 8, 16)


@pytest.mark.parametrize("missing", ["as_of", "source", "physical_cores", "region", "kind", "currency"])
def test_an_entry_without_a_required_field_fails_with_one_clear_line(tmp_path: Path, missing: str) -> None:
    path = write(tmp_path, entry(**{missing: None}))
    with pytest.raises(ConfigError, match=f"Box 8: missing {missing}") as info:
        load_catalog(path)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_a_report_with_an_incomplete_catalog_fails_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support import synthetic as S

    results = S.write(S.seed_story(), tmp_path / "seed", S.meta())
    path = write(tmp_path, entry(as_of=None, source=None))
    assert main(["report", str(results), "--prices", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Box 8: missing as_of, source" in err[0]
    assert not (results / "report.md").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"vcpus": "0"}, "vcpus must be a positive integer"),
        ({"physical_cores": "9"}, "physical_cores must be an integer from 1 to vcpus (8)"),
        ({"physical_cores": '"lots"'}, "physical_cores must be"),
        ({"price_per_hour": "-1"}, "price_per_hour must be a positive number"),
        ({"price_per_hour": "nan"}, "price_per_hour must be a positive number"),
        ({"price_per_hour": "inf"}, "price_per_hour must be a positive number"),
        ({"kind": '"reserved"'}, "kind must be one of on-demand, spot"),
        ({"as_of": '"last week"'}, "as_of must be a date"),
        ({"source": '""'}, "source must be a non-empty string"),
        ({"price_per_hour": None, "usd_per_hour": "0.4"}, "usd_per_hour is now price_per_hour"),
    ],
    ids=["vcpus", "cores-above-vcpus", "cores-word", "price", "nan-price", "inf-price", "kind", "date",
         "empty-source", "old-format"],
)
def test_bad_values_are_named(tmp_path: Path, override: dict[str, str | None], message: str) -> None:
    with pytest.raises(ConfigError, match="^price catalog ") as info:
        load_catalog(write(tmp_path, entry(**override)))
    assert message in str(info.value)


def test_unreadable_catalogs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalog(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_catalog(write(tmp_path, "[[vm]\n"))
    with pytest.raises(ConfigError, match="no \\[\\[vm\\]\\] entries"):
        load_catalog(write(tmp_path, "x = 1\n"))
    with pytest.raises(ConfigError, match="Box 8 listed twice"):
        load_catalog(write(tmp_path, entry(), entry()))


def test_the_sweep_reads_the_same_catalog_and_fails_the_same_way(tmp_path: Path) -> None:
    # One reader: the sweep's core counts come from the catalog the report prices with, and a
    # catalog the report refuses is refused by the sweep too (it used to fall back silently).
    cores, source = catalog_cores(write(tmp_path, entry(), entry(name='"Box 96"', vcpus="96",
                                                                 physical_cores="96")))
    assert cores == (4, 8, 96) and source.endswith("prices.toml")
    with pytest.raises(ConfigError, match="missing as_of"):
        catalog_cores(write(tmp_path, entry(as_of=None), name="bad.toml"))
    shipped, source = catalog_cores()
    assert source == "price catalog bench/data/prices.toml"
    assert set(shipped) >= {vm.vcpus for vm in load_catalog().vms}


def test_the_shipped_catalog_cites_a_source_or_says_unverified() -> None:
    vms = load_catalog().vms
    assert vms
    for vm in vms:
        assert vm.source == "unverified" or vm.source.startswith("https://"), vm
        assert vm.kind in ("on-demand", "spot") and vm.currency and vm.region


def test_staleness_is_a_year() -> None:
    vm = load_catalog().vms[0]
    assert not vm.stale(vm.as_of + dt.timedelta(days=STALE_DAYS))
    assert vm.stale(vm.as_of + dt.timedelta(days=STALE_DAYS + 1))


VALUES = st.one_of(
    st.none(), st.integers(-3, 300), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.text(max_size=12), st.sampled_from(["unknown", "spot", "on-demand", "2026-01-01"]),
    st.dates(), st.lists(st.integers(), max_size=2),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from([*FULL, "extra"]), value=VALUES)
def test_any_entry_loads_or_is_one_config_error_line(field: str, value: object) -> None:
    # Property: whatever one field holds, the catalog loads or fails with one ConfigError line.
    e: dict[str, object] = {
        "name": "Box 8", "vcpus": 8, "physical_cores": 4, "price_per_hour": 0.4, "currency": "USD",
        "kind": "on-demand", "region": "r", "as_of": dt.date(2026, 11, 1), "source": "unverified",
    }
    if value is None:
        e.pop(field, None)
    else:
        e[field] = value
    try:
        cat = parse_catalog({"vm": [e]}, "fuzz.toml")
    except ConfigError as exc:
        assert exc.exit_code == 2 and "\n" not in str(exc) and str(exc).startswith("price catalog fuzz.toml")
    else:
        (vm,) = cat.vms
        assert vm.vcpus >= 1 and math.isfinite(vm.price_per_hour) and vm.price_per_hour > 0
        assert vm.kind in ("on-demand", "spot")
        assert vm.physical_cores is None or 1 <= vm.physical_cores <= vm.vcpus
