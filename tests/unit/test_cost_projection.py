"""The one projection rule of the cost table, on recorded results: the committed reference run
(every strategy on the 2-core machine), its real `pool` sweep, and a real two-strategy sweep
(tests/fixtures/sweep-two-strategy). Each figure is recomputed here from the closed forms."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bench.analysis.cost import projection as pj
from bench.analysis.cost.catalog import VmPrice, load_catalog
from bench.analysis.diagnose import Diagnosis, Recorded, analyse
from bench.analysis.scaling import exact_sensitivity, load_sweep, speedup_at, strategy_sweeps
from bench.report import build
from bench.report.markdown import render
from tests.support.report_tables import section, table_rows

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reports" / "reference"
POOL_SWEEP = REFERENCE / "sweep-pool"
TWO = ROOT / "tests" / "fixtures" / "sweep-two-strategy"
PROCESS = ("joblib-loky", "pool", "ray", "islands", "optuna-journal", "pool@unlimited", "pool/spawn")
BAND = re.compile(r"^(\d+(\.\d)?)× \((\d+(\.\d)?)–(\d+(\.\d)?)×\) · ")


@pytest.fixture(scope="module")
def reference() -> Diagnosis:
    return analyse(Recorded.load(REFERENCE))


def vm(vcpus: int, cores: int | str = "unknown", name: str = "VM") -> VmPrice:
    import datetime as dt

    return VmPrice(name, vcpus, None if cores == "unknown" else int(cores), 1.0, "USD", "on-demand",
                   "r", dt.date(2026, 11, 1), "unverified")


def projected(md: str) -> dict[str, list[str]]:
    return table_rows(section(md, "### Projected on catalog VMs"))


def two_point(n: int, workers: int, speedup: float) -> float:
    """Amdahl through (1, 1) and (workers, speedup), closed form."""
    s = min(1.0, max(0.0, (workers / speedup - 1.0) / (workers - 1.0)))
    return 1.0 / (s + (1.0 - s) / n)


def measured(d: Diagnosis, label: str) -> Any:
    return d.recorded.summaries[label]


# --- no sweep: efficiency held, banded by the two-point Amdahl law ---------------------------------
def test_without_a_sweep_every_process_row_uses_the_same_rule_with_a_band(reference: Diagnosis) -> None:
    parts = build(reference, REFERENCE)
    rows = projected(render(parts))
    for label in PROCESS:
        assert rows[label][1] == "efficiency held; band: two-point Amdahl", label
        for cell in rows[label][2:]:
            assert BAND.match(cell), cell
    # The four runs that measured >= 100% at 2 workers project the same figure on every VM: the
    # contradiction of 9.85x beside 128x on the same evidence cannot come back.
    full = [lb for lb in PROCESS if measured(reference, lb).efficiency >= 1.0]
    assert set(full) >= {"joblib-loky", "pool", "ray", "pool/spawn"}
    for i in range(2, 4):
        assert len({rows[lb][i] for lb in full}) == 1


def test_efficiency_held_figures_and_band_recomputed(reference: Diagnosis) -> None:
    rule = pj.Projection(pj.Machine.from_record(reference.recorded.machine))
    m = measured(reference, "islands")  # 97%: below 100%, so the two-point fit has a serial part
    run = build(reference, REFERENCE).measured
    islands = next(r for r in run if r.label == "islands")
    big = vm(128)
    est = rule.estimate(islands, big)
    assert est is not None and est.method == pj.EFFICIENCY_HELD
    e = min(m.speedup / 2, 1.0)
    assert est.cores == 64  # physical cores unknown: vCPUs / 2 (SMT assumed)
    assert est.speedup == pytest.approx(e * 64)
    low = two_point(64, 2, e * 2 * 0.95)
    assert est.low == pytest.approx(low)
    # The band reaches to all vCPUs, and to the two-point law with the 2-worker point 5% higher.
    assert est.high == pytest.approx(max(e * 128, two_point(128, 2, min(e * 2 * 1.05, 2.0))))
    assert est.low < est.speedup < est.high


# --- physical cores and the measured machine's SMT -------------------------------------------------
def test_process_rows_scale_with_physical_cores_threads_do_not(reference: Diagnosis) -> None:
    rule = pj.Projection(pj.Machine.from_record(reference.recorded.machine))
    runs = {r.label: r for r in build(reference, REFERENCE).measured}
    smt = rule.estimate(runs["pool"], vm(64, 32))
    no_smt = rule.estimate(runs["pool"], vm(64, 64))
    assert smt is not None and no_smt is not None
    assert (smt.cores, no_smt.cores) == (32, 64)
    assert smt.speedup == pytest.approx(32.0) and no_smt.speedup == pytest.approx(64.0)
    assert smt.high == pytest.approx(32.0)  # known cores: the band does not reach to the vCPUs
    threads = rule.estimate(runs["optuna-threads"], vm(64, 32))
    assert threads is not None and threads.method == pj.HELD
    assert threads.speedup == pytest.approx(measured(reference, "optuna-threads").speedup)
    seq = rule.estimate(runs["sequential"], vm(64, 32))
    assert seq is not None and (seq.method, seq.speedup) == (pj.BASELINE, 1.0)


def test_the_measured_machines_smt_sets_the_efficiency_per_physical_core() -> None:
    from bench.report.cost import measured_cost

    run = measured_cost("pool", "processes", 4, 8, 1.0, 0.0, 2.4, 0.6, None, None)
    with_smt = pj.Projection(pj.Machine(2, 4, True)).estimate(run, vm(16, 16))
    without = pj.Projection(pj.Machine(4, 4, False)).estimate(run, vm(16, 16))
    assert with_smt is not None and without is not None
    # 4 workers on 2 SMT cores: 2.4x is 120% per physical core used, capped at 100%.
    assert with_smt.speedup == pytest.approx(16.0)
    assert without.speedup == pytest.approx(0.6 * 16)
    assert pj.Machine.from_record({"physical_cores": 2, "logical_cores": 4, "smt": True}).cores_used(4) == 2


# --- a sweep: its shape for every process row, each row's own level --------------------------------
def test_one_sweep_gives_every_process_row_its_shape_at_the_rows_own_efficiency(
    reference: Diagnosis,
) -> None:
    parts = build(reference, REFERENCE, sweep=POOL_SWEEP)
    rows = projected(render(parts))
    assert rows["pool"][1] == "Amdahl fit, own sweep (1,2 workers) × own efficiency"
    for label in PROCESS:
        if label != "pool":
            assert rows[label][1] == "Amdahl fit, shape of `pool` sweep (1,2 workers) × own efficiency"
        for cell in rows[label][2:]:
            assert BAND.match(cell), cell
    sweep = strategy_sweeps(load_sweep(POOL_SWEEP))["pool"]
    at2 = speedup_at(sweep, 2).speedup
    assert at2 is not None
    for label in ("pool", "joblib-loky", "islands"):
        e = min(measured(reference, label).speedup / 2, 1.0)
        est = next(pc.estimate for pc in parts.projected
                   if pc.label == label and pc.vm.vcpus == 128)
        fit64 = speedup_at(sweep, 64).speedup
        assert fit64 is not None and est is not None
        assert est.speedup == pytest.approx(fit64 * e / (at2 / 2))
        low, _ = exact_sensitivity(sweep, 64) or (0.0, 0.0)
        _, high128 = exact_sensitivity(sweep, 128) or (0.0, 0.0)
        assert est.low == pytest.approx(low * e / (at2 / 2))
        assert est.high == pytest.approx(min(high128 * e / (at2 / 2), 128))
    # Same efficiency side by side, same projection: no row is 13x another on the same evidence.
    assert rows["pool"][3] == rows["joblib-loky"][3] == rows["ray"][3] == rows["pool/spawn"][3]


def test_a_two_strategy_sweep_gives_each_swept_run_its_own_fit(reference: Diagnosis) -> None:
    doc = load_sweep(TWO)
    assert doc["strategies"] == ["pool", "joblib-loky"]
    # Worker counts interleaved: count 1 pool then joblib-loky, count 2 in the reverse order.
    assert doc["order"] == [["pool", 1], ["joblib-loky", 1], ["joblib-loky", 2], ["pool", 2]]
    per = strategy_sweeps(doc)
    assert set(per) == {"pool", "joblib-loky"}
    for entry in per.values():
        assert [p["workers"] for p in entry["points"]] == [1, 2]
        assert entry["fits"]["amdahl"]["status"] == "exact"
    parts = build(reference, REFERENCE, sweep=TWO)
    md = render(parts)
    rows = projected(md)
    assert rows["pool"][1] == rows["joblib-loky"][1] == "Amdahl fit, own sweep (1,2 workers) × own efficiency"
    # pool@unlimited and pool/spawn take pool's shape (same base strategy); ray the first swept run's
    assert rows["pool@unlimited"][1].startswith("Amdahl fit, shape of `pool` sweep")
    assert rows["pool/spawn"][1].startswith("Amdahl fit, shape of `pool` sweep")
    first = next(lb for lb in reference.recorded.labels if lb in ("pool", "joblib-loky"))
    assert rows["ray"][1].startswith(f"Amdahl fit, shape of `{first}` sweep")
    for label in PROCESS:
        for cell in rows[label][2:]:
            assert BAND.match(cell), cell
    # The sweep ran elsewhere and searched another workload: both said.
    assert "ran on another machine" in md and "searched another workload" in md


def test_a_multi_strategy_sweep_with_one_matching_strategy_names_the_other(
    reference: Diagnosis, tmp_path: Path
) -> None:
    import json

    doc = load_sweep(TWO)
    doc["sweeps"]["dask"] = {**doc["sweeps"]["joblib-loky"], "strategy": "dask"}
    (tmp_path / "sweep.json").write_text(json.dumps(doc))
    md = render(build(reference, REFERENCE, sweep=tmp_path))
    assert "also swept `dask`, not runs of these results: not used." in md


# --- the catalog under the table -------------------------------------------------------------------
def test_catalog_entries_are_shown_with_date_region_source_and_flags(
    reference: Diagnosis, tmp_path: Path
) -> None:
    cat = tmp_path / "prices.toml"
    cat.write_text(
        '[[vm]]\nname = "Old box"\nvcpus = 16\nphysical_cores = 8\nprice_per_hour = 0.8\n'
        'currency = "EUR"\nkind = "spot"\nregion = "westeurope"\nas_of = 2020-01-01\n'
        'source = "https://example.invalid/prices"\n'
        '[[vm]]\nname = "New box"\nvcpus = 16\nphysical_cores = 16\nprice_per_hour = 1.6\n'
        'currency = "USD"\nkind = "on-demand"\nregion = "eastus"\nas_of = 2099-01-01\n'
        'source = "unverified"\n'
    )
    md = render(build(reference, REFERENCE, prices=cat))
    notes = section(md, "### Projected on catalog VMs")
    assert "- Old box: 16 vCPUs, 8 physical cores (SMT); 0.8 EUR/h spot, region westeurope, as of " \
        "2020-01-01; source: https://example.invalid/prices — ⚠️ price over a year old" in notes
    assert "- New box: 16 vCPUs, 16 physical cores (no SMT); 1.6 USD/h on-demand, region eastus, " \
        "as of 2099-01-01; source: unverified — ⚠️ unverified price: no source cited" in notes
    row = projected(md)["pool"]
    assert row[2].endswith(" EUR)") and "unverified" not in row[2]
    assert row[3].endswith(" unverified price")
    assert "New box (16 vCPU, 16 physical cores, 1.6 USD/h on-demand, unverified price)" in notes
    assert "Old box (16 vCPU, 8 physical cores, 0.8 EUR/h spot, price of 2020-01-01: over a year old)" in notes


def test_the_shipped_catalog_marks_every_unverified_figure(reference: Diagnosis) -> None:
    md = render(build(reference, REFERENCE))
    unverified = {v.name for v in load_catalog().vms if not v.verified}
    rows = projected(md)
    if unverified:
        for cells in rows.values():
            assert all(cell.endswith("unverified price") or cell == "—" for cell in cells[2:])


def test_several_sweeps_feed_one_table_the_first_wins_a_run_swept_twice(reference: Diagnosis) -> None:
    md = render(build(reference, REFERENCE, sweep=[POOL_SWEEP, TWO]))
    rows = projected(md)
    assert rows["pool"][1] == "Amdahl fit, own sweep (1,2 workers) × own efficiency"
    assert rows["joblib-loky"][1] == "Amdahl fit, own sweep (1,2 workers) × own efficiency"
    assert f"`pool` is swept in {POOL_SWEEP} and {TWO}: the first is used." in md
    assert f"Sweeps: `joblib-loky`: {TWO}; `pool`: {POOL_SWEEP}." in md


def test_verdict_and_hypotheses_quote_no_projected_figure_without_its_band(reference: Diagnosis) -> None:
    md = render(build(reference, REFERENCE, sweep=POOL_SWEEP))
    prose = md.split("## Root-cause matrix")[0] + section(md, "## Hypotheses")
    centrals = {m.group(1) for cells in projected(md).values() for c in cells[2:]
                if (m := BAND.match(c))}
    assert centrals
    for figure in centrals:
        for hit in re.finditer(rf"(?<![\d.]){re.escape(figure)}×", prose):
            assert prose[hit.end():hit.end() + 2] == " (", f"{figure}× quoted without its band"
    assert "projected" not in prose.lower()


def test_a_run_with_nothing_to_scale_is_marked_not_projected() -> None:
    from bench.report.cost import DefaultModel, measured_cost

    model = DefaultModel({"physical_cores": 2, "logical_cores": 2, "smt": False})
    one = measured_cost("pool", "processes", 1, 4, 1.0, 0.0, 1.0, 1.0, None, None)
    failed = measured_cost("ray", "ray", 2, 0, None, None, None, None, None, None)
    for run in (one, failed):
        est = model.estimate(run, vm(16, 8))
        assert est is None
        assert model.describe(est) == "not projected: no speedup measured at 2 or more workers"
