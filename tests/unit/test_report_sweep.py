"""Cost projections from a saved sweep: every process row takes the fitted curve's shape at its own
measured efficiency (recomputed here from the sweep), the model column names which sweep each row
used, every projected cell carries its band, and a sweep that does not fit the results is one
line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.analysis import scaling
from bench.analysis.diagnose import Recorded, analyse
from bench.cli import main
from bench.errors import ResultsError
from bench.report import build
from bench.report.markdown import render
from tests.support import synthetic as S
from tests.support.report_tables import seconds_cell, section, table_rows, usd_cell

SEQ_RATE = 0.5  # trials/s of the seed story's sequential run
CATALOG = {"Azure D4as_v7": (4, 0.20), "Azure D128as_v7": (128, 3.50)}
A, B = 0.1, 0.002  # the USL the synthetic sweep follows


def sweep_doc(
    counts: tuple[int, ...] = (1, 2, 4, 8), strategy: str = "pool", noise: float = 0.02,
    **config: Any,
) -> dict[str, Any]:
    """A version-1 sweep.json (one strategy) as `bench sweep` wrote it, from throughputs that follow
    USL(A, B); version 1 is still read (the reference sweep is one)."""
    wobble = [1.0, 1 + noise, 1 - noise, 1 + noise / 2, 1 - noise / 2]
    rows = [(w, SEQ_RATE * scaling.usl(w, A, B) * wobble[i % len(wobble)]) for i, w in enumerate(counts)]
    an = scaling.analyze(rows, cores=(4, 128), usable_cores=max(counts))
    cfg = {"threads": "auto", "start_method": "fork", "population": 16, "generations": 4,
           "seeds": 1, "mode": "loop", "objective": None, "workers": None, **config}
    return {"schema_version": 1, "kind": scaling.SWEEP_KIND,
            "strategy": strategy, "workers": list(counts), "config": cfg,
            "machine": {"id": "synthmachine", "usable_cores": max(counts)}, "status": "complete",
            "runs": [], **an.to_dict()}


def save(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    """Sequential, optuna-threads, pool and pool@unlimited on 2 cores (tests/fixtures/synthetic.py)."""
    return S.write(S.seed_story(), tmp_path / "seed", S.meta())


def report(path: Path, **kw: Any) -> str:
    return render(build(analyse(Recorded.load(path)), path, **kw))


def projected(md: str) -> dict[str, list[str]]:
    return table_rows(section(md, "### Projected on catalog VMs"))


def assumption(md: str) -> str:
    return next(line for line in md.splitlines() if line.startswith("*Assumption:*"))


def _x(v: float) -> str:
    return f"{v:.1f}×" if v < 10 else f"{v:.0f}×"


def cell(speedup: float, low: float, high: float, vm: str) -> str:
    """A projected cell recomputed from a speedup band: sequential rate x speedup, the VM's price."""
    price = CATALOG[vm][1]
    wall, fast, slow = (100 / (SEQ_RATE * x) for x in (speedup, high, low))
    return (f"{_x(speedup)} ({_x(low)[:-1]}–{_x(high)}) · {seconds_cell(wall)} ({seconds_cell(fast)}–"
            f"{seconds_cell(slow)}) · {usd_cell(wall / 3600 * price)} ({usd_cell(fast / 3600 * price)}–"
            f"{usd_cell(slow / 3600 * price)}) unverified price")


def test_the_swept_run_gives_its_shape_to_every_process_row(results: Path, tmp_path: Path) -> None:
    doc = sweep_doc()
    usl = doc["fits"]["usl"]
    assert usl["status"] == scaling.FITTED
    md = report(results, sweep=save(doc, tmp_path / "sw" / "sweep.json"))
    rows = projected(md)
    p2 = scaling.speedup_at(doc, 2).speedup
    sums = Recorded.load(results).summaries
    assert sums["pool"].efficiency == pytest.approx(1.0)
    e_unl = sums["pool@unlimited"].efficiency
    assert e_unl is not None and e_unl < 1.0
    for vm, (vcpus, _) in CATALOG.items():
        col = 2 + list(CATALOG).index(vm)
        n = vcpus // 2
        pn, pv = scaling.speedup_at(doc, n), scaling.speedup_at(doc, vcpus)
        assert pn.low is not None and pv.high is not None and p2
        ratio = 1.0 / (p2 / 2)  # pool measured 100% at 2 workers
        assert pv.low is not None and pn.high is not None
        # the band: the envelope of the curve's band at vCPUs / 2 and at all vCPUs
        low, high = min(pn.low, pv.low), max(pn.high, pv.high)
        expect = (min(pn.speedup * ratio, n), min(low * ratio, n), min(high * ratio, vcpus))
        assert rows["pool"][col] == cell(*expect, vm)
        # pool@unlimited measured less: the same curve at its own, lower level
        lower = (min(pn.speedup * ratio * e_unl, n), min(low * ratio * e_unl, n),
                 min(high * ratio * e_unl, vcpus))
        assert rows["pool@unlimited"][col] == cell(*lower, vm)
    assert rows["pool"][1] == "USL fit, own sweep (1,2,4,8 workers) × own efficiency"
    assert rows["pool@unlimited"][1] == "USL fit, shape of `pool` sweep (1,2,4,8 workers) × own efficiency"
    assert rows["optuna-threads"][1] == "measured speedup held (one interpreter)"
    assert "### Projected on catalog VMs (sweep shape of `pool` × each run's measured efficiency)" in md
    line = assumption(md)
    assert f"Sweeps: `pool`: {tmp_path / 'sw' / 'sweep.json'}." in line
    assert "Band: the fit's 95% band" in line
    # Measured columns never take a projected figure.
    assert md.split("### Projected")[0] == report(results).split("### Projected")[0]


def test_two_points_give_an_exact_amdahl_fit_banded_by_a_5_percent_move(results: Path, tmp_path: Path) -> None:
    doc = sweep_doc(counts=(1, 2), noise=0.0)
    assert doc["fits"]["usl"]["status"] == scaling.NOT_FITTED
    s = doc["fits"]["amdahl"]["params"]["s"]["value"]
    md = report(results, sweep=save(doc, tmp_path / "sweep.json"))
    rows = projected(md)
    s2 = scaling.amdahl(2, s)
    ratio = 1.0 / (s2 / 2)
    for vm, (vcpus, _) in CATALOG.items():
        n = vcpus // 2
        low_n, _ = scaling.exact_sensitivity(doc, n)
        _, high_v = scaling.exact_sensitivity(doc, vcpus)
        expect = (min(scaling.amdahl(n, s) * ratio, n), min(low_n * ratio, n), min(high_v * ratio, vcpus))
        assert rows["pool"][2 + list(CATALOG).index(vm)] == cell(*expect, vm)
    assert rows["pool"][1] == "Amdahl fit, own sweep (1,2 workers) × own efficiency"
    assert "what a ±5% move of its top point does" in assumption(md)


def test_a_sweep_saved_in_the_results_directory_is_used(results: Path) -> None:
    doc = sweep_doc()
    save(doc, results / scaling.SWEEP_FILE)
    md = report(results)
    assert "Sweeps: `pool`: sweep.json in this results directory." in assumption(md)
    assert projected(md)["pool"][1] == "USL fit, own sweep (1,2,4,8 workers) × own efficiency"


def test_a_saved_sweep_that_does_not_fit_is_named_and_left_out(results: Path) -> None:
    save(sweep_doc(strategy="joblib-loky"), results / scaling.SWEEP_FILE)
    md = report(results)
    assert "### Projected on catalog VMs (measured efficiency held, band to the two-point Amdahl law)" in md
    line = assumption(md)
    assert line.startswith("*Assumption:* The sweep saved here was not used: sweep sweep.json in this "
                           "results directory measured `joblib-loky`, which is not a run in these results")
    assert projected(md)["pool"][1] == "efficiency held; band: two-point Amdahl"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (sweep_doc(strategy="joblib-loky"), "measured `joblib-loky`, which is not a run in these results"),
        (sweep_doc(threads="1"),
         "measured pool with threads 1, start method fork; the results have `pool` (pool with threads "
         "auto, start method fork), `pool@unlimited`"),
        (sweep_doc(strategy="pool/spawn"), "sweep that variant: bench sweep --strategies pool"),
        ({**sweep_doc(), **scaling.analyze([(1, None), (2, None)], cores=(4, 128)).to_dict()},
         "has no fitted scaling model for `pool` (1 workers: no completed trials"),
    ],
    ids=["not-in-results", "other-thread-policy", "other-start-method", "no-fit"],
)
def test_a_sweep_that_does_not_fit_the_results_is_an_error(
    results: Path, tmp_path: Path, doc: dict[str, Any], message: str
) -> None:
    with pytest.raises(ResultsError, match="^sweep ") as info:
        report(results, sweep=save(doc, tmp_path / "sweep.json"))
    assert message in str(info.value)


def test_another_machine_or_workload_is_said(results: Path, tmp_path: Path) -> None:
    doc = sweep_doc(population=200, generations=80)
    doc["machine"] = {"id": "bigmachine"}
    line = assumption(report(results, sweep=save(doc, tmp_path / "sweep.json")))
    assert "ran on another machine (fingerprint `bigmachine`, these results `synthmachine`)" in line
    assert "another workload (population 200 vs 16; generations 80 vs 4)" in line


def test_cli_report_with_a_sweep(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_dir = tmp_path / "sweep-pool"
    doc = sweep_doc()
    save(doc, sweep_dir / scaling.SWEEP_FILE)
    out = tmp_path / "r.md"
    assert main(["report", str(results), "--sweep", str(sweep_dir), "--out", str(out)]) == 0
    md = out.read_text()
    assert projected(md)["pool"][1] == "USL fit, own sweep (1,2,4,8 workers) × own efficiency"
    assert f"Sweeps: `pool`: {sweep_dir}." in md


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nowhere", "no sweep at"),
        (lambda d: save(sweep_doc(strategy="ray"), d / "ray" / "sweep.json"),
         "measured `ray`, which is not a run in these results"),
        (lambda d: save({"kind": "something else"}, d / "x.json"), "is not a corebench sweep file"),
    ],
    ids=["missing", "strategy-not-in-results", "not-a-sweep"],
)
def test_cli_report_bad_sweep_is_one_line_and_exit_2(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    out = tmp_path / "r.md"
    assert main(["report", str(results), "--sweep", str(make(tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
