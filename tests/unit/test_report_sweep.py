"""Cost projections from a saved sweep: the run the sweep measured is projected with its fitted
curve (recomputed here from the fit's parameters), every other run keeps the default model, the
assumption line names the model, and a sweep that does not fit the results is one line, exit 2."""

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
    """A sweep.json as `bench sweep` writes it, from throughputs that follow USL(A, B)."""
    wobble = [1.0, 1 + noise, 1 - noise, 1 + noise / 2, 1 - noise / 2]
    rows = [(w, SEQ_RATE * scaling.usl(w, A, B) * wobble[i % len(wobble)]) for i, w in enumerate(counts)]
    an = scaling.analyze(rows, cores=(4, 128), usable_cores=max(counts))
    cfg = {"threads": "auto", "start_method": "fork", "population": 16, "generations": 4,
           "seeds": 1, "mode": "loop", "objective": None, "workers": None, **config}
    return {"schema_version": scaling.SWEEP_SCHEMA_VERSION, "kind": scaling.SWEEP_KIND,
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


def cell(speedup: float, vm: str) -> str:
    """A projected cell recomputed from a speedup: sequential rate x speedup, the VM's price."""
    wall = 100 / (SEQ_RATE * speedup)
    return f"{speedup:.2f}× · {seconds_cell(wall)} · {usd_cell(wall / 3600 * CATALOG[vm][1])}"


def test_the_swept_run_is_projected_with_the_fitted_usl(results: Path, tmp_path: Path) -> None:
    doc = sweep_doc()
    usl = doc["fits"]["usl"]
    assert usl["status"] == scaling.FITTED
    a, b = usl["params"]["a"]["value"], usl["params"]["b"]["value"]
    md = report(results, sweep=save(doc, tmp_path / "sw" / "sweep.json"))
    default = projected(report(results))
    rows = projected(md)
    for i, (vm, (vcpus, _)) in enumerate(CATALOG.items(), 1):
        fitted = scaling.usl(vcpus, a, b)
        assert rows["pool"][i] == cell(fitted, vm)
        # The default model would project pool's 100% efficiency to every vCPU: 4x and 128x.
        assert default["pool"][i] == cell(float(vcpus), vm)
        assert rows["pool"][i] != default["pool"][i]
        for other in ("sequential", "optuna-threads", "pool@unlimited"):
            assert rows[other][i] == default[other][i]
    assert "### Projected on catalog VMs (USL fit of the `pool` sweep for `pool`; measured efficiency " \
        "for the other runs)" in md
    line = assumption(md)
    assert line.startswith("*Assumption:* Projected, not measured. `pool`: projected with the USL fit "
                           f"of the `pool` sweep (1,2,4,8 workers, `{tmp_path / 'sw' / 'sweep.json'}`)")
    for vcpus in (4, 128):
        p = scaling.speedup_at(doc, vcpus)
        assert p.low is not None and p.high is not None
        x = f"{p.speedup:.1f}x" if (p.speedup or 0) < 100 else f"{p.speedup:.0f}x"
        assert f"at {vcpus} cores {x} [band {p.low:.1f}–{p.high:.1f}]" in line
    assert "128 cores extrapolate beyond the 8 workers measured" in line
    assert "Other runs (`sequential`, `optuna-threads`, `pool@unlimited`): measured efficiency, not " \
        "the fit." in line
    # Measured columns never take a projected figure.
    measured = report(results).split("### Projected")[0]
    assert md.split("### Projected")[0] == measured


def test_two_points_give_an_exact_amdahl_fit_without_a_band(results: Path, tmp_path: Path) -> None:
    doc = sweep_doc(counts=(1, 2), noise=0.0)
    assert doc["fits"]["usl"]["status"] == scaling.NOT_FITTED
    s = doc["fits"]["amdahl"]["params"]["s"]["value"]
    md = report(results, sweep=save(doc, tmp_path / "sweep.json"))
    rows = projected(md)
    for i, (vm, (vcpus, _)) in enumerate(CATALOG.items(), 1):
        assert rows["pool"][i] == cell(scaling.amdahl(vcpus, s), vm)
    line = assumption(md)
    assert "projected with the Amdahl fit of the `pool` sweep (1,2 workers" in line
    assert "[no band: exact fit; " in line
    for vcpus, _ in CATALOG.values():  # what a 5% move of the 2-worker point does, per VM
        low, high = scaling.exact_sensitivity(doc, vcpus)
        shown = f"{low:.1f}x" if low < 100 else f"{low:.0f}x", f"{high:.1f}x" if high < 100 else f"{high:.0f}x"
        assert f"{shown[0]}–{shown[1]} if the 2-worker speedup were 5% lower or higher" in line


def test_a_sweep_saved_in_the_results_directory_is_used(results: Path) -> None:
    doc = sweep_doc()
    save(doc, results / scaling.SWEEP_FILE)
    md = report(results)
    assert "(1,2,4,8 workers, `sweep.json in this results directory`)" in assumption(md)
    a, b = (doc["fits"]["usl"]["params"][k]["value"] for k in ("a", "b"))
    assert projected(md)["pool"][2] == cell(scaling.usl(128, a, b), "Azure D128as_v7")


def test_a_saved_sweep_that_does_not_fit_is_named_and_left_out(results: Path) -> None:
    save(sweep_doc(strategy="joblib-loky"), results / scaling.SWEEP_FILE)
    md = report(results)
    assert "### Projected on catalog VMs (measured efficiency)" in md
    line = assumption(md)
    assert line.startswith("*Assumption:* The sweep saved here was not used: sweep sweep.json in this "
                           "results directory measured `joblib-loky`, which is not a run in these results")
    assert projected(md)["pool"][2] == cell(128.0, "Azure D128as_v7")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (sweep_doc(strategy="joblib-loky"), "measured `joblib-loky`, which is not a run in these results"),
        (sweep_doc(threads="1"),
         "measured pool with threads 1, start method fork; the results have `pool` (pool with threads "
         "auto, start method fork), `pool@unlimited`"),
        (sweep_doc(strategy="pool/spawn"), "sweep that variant: bench sweep --strategy pool"),
        ({**sweep_doc(), **scaling.analyze([(1, None), (2, None)], cores=(4, 128)).to_dict()},
         "has no fitted scaling model (1 workers: no completed trials"),
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
    assert "The sweep ran on another machine (fingerprint `bigmachine`, these results `synthmachine`)" in line
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
    a, b = (doc["fits"]["usl"]["params"][k]["value"] for k in ("a", "b"))
    assert projected(md)["pool"][2] == cell(scaling.usl(128, a, b), "Azure D128as_v7")
    assert f"USL fit of the `pool` sweep (1,2,4,8 workers, `{sweep_dir}`)" in md


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
