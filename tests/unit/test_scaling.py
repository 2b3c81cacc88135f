"""Scaling fits on synthetic sweeps, the sweep file, the duration estimate, the sweep flags."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench.analysis import scaling
from bench.analysis.scaling import (
    EXACT,
    FITTED,
    NOT_FITTED,
    ModelFit,
    Point,
    ScalingInputError,
    amdahl,
    analyze,
    curve_band,
    fit_amdahl,
    fit_usl,
    speedup_at,
    usl,
)
from bench.cli import main
from bench.cli.sweep import default_worker_counts, parse_strategies, parse_worker_counts
from bench.config import Config
from bench.errors import ConfigError, ResultsError
from bench.report.sweep import render_markdown, write_plot
from bench.run import calibrate

COUNTS = (1, 2, 4, 8, 16, 32)


def amdahl_points(s: float, counts: tuple[int, ...] = COUNTS, noise: float = 0.0) -> list[Point]:
    rng = np.random.default_rng(7)
    return [Point(n, amdahl(n, s) * (1 + noise * rng.standard_normal()) if n > 1 else 1.0)
            for n in counts]


def usl_points(
    a: float, b: float, counts: tuple[int, ...] = COUNTS, noise: float = 0.0
) -> list[Point]:
    rng = np.random.default_rng(11)
    return [Point(n, usl(n, a, b) * (1 + noise * rng.standard_normal()) if n > 1 else 1.0)
            for n in counts]


# --- closed forms ---------------------------------------------------------------------------------

def test_closed_forms_at_one_worker_and_usl_nests_amdahl() -> None:
    assert amdahl(1, 0.3) == pytest.approx(1.0)
    assert usl(1, 0.3, 0.01) == pytest.approx(1.0)
    assert amdahl(8, 0.0) == pytest.approx(8.0)
    assert amdahl(1e9, 0.1) == pytest.approx(10.0, rel=1e-6)  # the 1/s ceiling
    for n in (2, 5, 64):
        assert usl(n, 0.2, 0.0) == pytest.approx(amdahl(n, 0.2))


# --- recovery of known parameters -----------------------------------------------------------------

def test_amdahl_recovers_serial_fraction_exactly_without_noise() -> None:
    f = fit_amdahl(amdahl_points(0.1))
    assert f.status == FITTED
    assert f.value("s") == pytest.approx(0.1, abs=1e-8)
    assert f.r2 == pytest.approx(1.0)
    assert f.rmse == pytest.approx(0.0, abs=1e-8)
    assert f.dof == len(COUNTS) - 1 - 1


def test_usl_recovers_contention_and_coherency_without_noise() -> None:
    f = fit_usl(usl_points(0.05, 0.001))
    assert f.status == FITTED
    assert f.value("a") == pytest.approx(0.05, rel=1e-6)
    assert f.value("b") == pytest.approx(0.001, rel=1e-5)
    assert f.r2 == pytest.approx(1.0)


def test_usl_on_amdahl_data_finds_no_coherency_and_says_b_is_at_its_bound() -> None:
    f = fit_usl(amdahl_points(0.1))
    assert f.value("a") == pytest.approx(0.1, abs=1e-6)
    assert f.value("b") == pytest.approx(0.0, abs=1e-8)
    assert next(p for p in f.params if p.name == "b").at_bound
    assert "b held at its bound" in f.reason


def test_fits_with_noise_land_near_the_truth_with_honest_errors() -> None:
    am = fit_amdahl(amdahl_points(0.1, noise=0.02))
    s = am.params[0]
    assert s.stderr is not None and s.stderr > 0
    assert abs(s.value - 0.1) < max(4 * s.stderr, 0.02)
    u = fit_usl(usl_points(0.05, 0.001, noise=0.02))
    a, b = u.params
    assert a.stderr is not None and b.stderr is not None
    assert abs(a.value - 0.05) < max(4 * a.stderr, 0.02)
    assert abs(b.value - 0.001) < max(4 * b.stderr, 5e-4)
    assert 0.95 < (u.r2 or 0) <= 1.0
    # The band at a measured count covers the true curve.
    est, low, high = curve_band(u, [16])
    assert low is not None and high is not None
    assert low[0] <= usl(16, 0.05, 0.001) <= high[0]
    assert low[0] <= est[0] <= high[0]


def test_band_is_deterministic_and_widens_when_extrapolating() -> None:
    u = fit_usl(usl_points(0.05, 0.001, counts=(1, 2, 4, 8), noise=0.02))
    first = curve_band(u, [4, 16, 128])
    assert curve_band(u, [4, 16, 128]) == first
    _, low, high = first
    assert low is not None and high is not None
    widths = [h - lo for lo, h in zip(low, high, strict=True)]
    assert widths[0] < widths[1] < widths[2]


# --- predictions ----------------------------------------------------------------------------------

def test_predictions_match_the_closed_form_and_scale_the_base_throughput() -> None:
    rows = [(p.workers, 3.0 * p.speedup) for p in usl_points(0.05, 0.001)]
    an = analyze(rows, cores=(4, 16, 128))
    a, b = an.fit("usl").value("a"), an.fit("usl").value("b")
    s = an.fit("amdahl").value("s")
    for pred in an.predictions:
        assert pred.model == "usl"
        assert pred.speedup == pytest.approx(usl(pred.cores, a, b))
        assert pred.throughput == pytest.approx(3.0 * usl(pred.cores, a, b))
        assert pred.efficiency == pytest.approx(usl(pred.cores, a, b) / pred.cores)
        assert pred.extrapolated == (pred.cores > 32)
        # Noise-free USL data: Amdahl cannot follow the retrograde part, and the envelope says so.
        assert pred.low is not None and pred.high is not None
        assert pred.low <= pred.speedup <= pred.high
        assert pred.low <= amdahl(pred.cores, s) <= pred.high
    per_model = {(p.model, p.cores): p.speedup for p in an.model_predictions}
    assert per_model[("amdahl", 128)] == pytest.approx(amdahl(128, s))


def test_speedup_at_rebuilds_the_prediction_from_the_saved_dict() -> None:
    an = analyze([(p.workers, p.speedup) for p in usl_points(0.05, 0.001, noise=0.01)],
                 cores=(4, 128))
    saved = json.loads(json.dumps(an.to_dict()))
    for pred in an.predictions:
        again = speedup_at(saved, pred.cores)
        assert again.speedup == pytest.approx(pred.speedup)
        assert again.low == pytest.approx(pred.low)
        assert again.high == pytest.approx(pred.high)
    other = speedup_at(saved, 64)
    assert other.speedup == pytest.approx(an.fit("usl").speedup(64))
    assert ModelFit.from_dict(saved["fits"]["usl"]) == an.fit("usl")


def test_sweep_without_a_one_worker_point_is_relative_to_the_smallest_count() -> None:
    s = 0.1
    rows = [(n, 5.0 * amdahl(n, s)) for n in (2, 4, 8)]  # throughput, no 1-worker run
    an = analyze(rows, cores=(16,))
    assert an.base_workers == 2
    assert an.points[0].speedup == pytest.approx(1.0)
    assert an.points[1].speedup == pytest.approx(amdahl(4, s) / amdahl(2, s))
    assert an.points[1].efficiency == pytest.approx(an.points[1].speedup * 2 / 4)
    assert an.fit("amdahl").value("s") == pytest.approx(s, abs=1e-7)
    assert an.predictions[0].speedup == pytest.approx(usl(16, s, 0.0), rel=1e-5)  # over 1 worker
    assert any("relative to 2 workers" in n for n in an.notes)


# --- two points: Amdahl exact, USL not fitted -----------------------------------------------------

def test_two_point_sweep_fits_amdahl_exactly_and_leaves_usl_unfitted() -> None:
    speedup = 1.6
    an = analyze([(1, 10.0), (2, 10.0 * speedup)], cores=(4, 16, 128))
    am, u = an.fit("amdahl"), an.fit("usl")
    assert am.status == EXACT and am.dof == 0
    # Closed form of the exact fit: 1/S = s + (1 - s)/n.
    assert am.value("s") == pytest.approx((1 / speedup - 1 / 2) / (1 - 1 / 2))
    assert am.params[0].stderr is None and am.covariance is None
    assert "no error estimate" in am.reason
    assert u.status == NOT_FITTED and not u.params
    assert "needs 3 distinct worker counts" in u.reason
    for pred in an.predictions:
        assert pred.model == "amdahl"
        assert pred.speedup == pytest.approx(amdahl(pred.cores, am.value("s")))
        assert pred.low is None and pred.high is None  # nothing to put a band on
    assert any("usl: not fitted" in n for n in an.notes)


def test_three_points_fit_usl_exactly_and_the_range_comes_from_amdahl() -> None:
    an = analyze([(p.workers, p.speedup) for p in usl_points(0.1, 0.01, counts=(1, 2, 4))],
                 cores=(16,))
    u = an.fit("usl")
    assert u.status == EXACT
    assert u.value("a") == pytest.approx(0.1, rel=1e-5)
    assert u.value("b") == pytest.approx(0.01, rel=1e-4)
    pred = an.predictions[0]
    assert pred.model == "usl" and pred.low is not None and pred.high is not None


# --- degenerate input -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "no sweep points"),
        ([Point(1, 1.0), Point(2, 0.0)], "no completed trials"),
        ([Point(1, 1.0), Point(2, -1.0)], "speedup at 2 workers is -1.0"),
        ([Point(1, 1.0), Point(2, math.nan)], "finite number"),
        ([Point(0, 1.0), Point(2, 1.5)], "integer >= 1"),
    ],
    ids=["empty", "zero", "negative", "nan", "zero-workers"],
)
def test_invalid_points_raise_a_clear_error(points: list[Point], message: str) -> None:
    with pytest.raises(ScalingInputError, match=message):
        fit_amdahl(points)


def test_one_point_is_not_enough_data() -> None:
    f = fit_amdahl([Point(1, 1.0)])
    assert f.status == NOT_FITTED and "needs 2 distinct worker counts" in f.reason
    with pytest.raises(ScalingInputError, match="not fitted"):
        f.speedup(4)
    an = analyze([(1, 2.0)], cores=(4,))
    assert all(not f.ok for f in an.fits)
    assert an.predictions[0].speedup is None and an.predictions[0].model == "none"


def test_a_count_without_completed_trials_is_shown_but_not_fitted() -> None:
    an = analyze([(1, 2.0), (2, 3.4), (4, None), (8, 0.0)], cores=(16,))
    assert [p.speedup for p in an.points][2:] == [None, None]
    assert an.fitted_workers == (1, 2)
    assert an.fit("amdahl").status == EXACT
    assert sum("no completed trials" in n for n in an.notes) == 2


def test_nothing_completed_is_reported_not_raised() -> None:
    an = analyze([(1, None), (2, 0.0)], cores=(4,))
    assert an.base_workers is None
    assert all(f.status == NOT_FITTED for f in an.fits)
    assert any("nothing to fit" in n for n in an.notes)


def test_counts_above_the_usable_cores_are_left_out_of_the_fit() -> None:
    an = analyze([(1, 1.0), (2, 1.9), (4, 1.9)], cores=(16,), usable_cores=2)
    assert an.fitted_workers == (1, 2)
    assert an.fit("usl").status == NOT_FITTED
    assert an.points[2].speedup == pytest.approx(1.9)
    assert any("oversubscription" in n for n in an.notes)


def test_superlinear_points_are_flagged_not_trusted() -> None:
    an = analyze([(1, 1.0), (2, 3.8)], cores=(128,))
    assert an.fit("amdahl").params[0].at_bound
    assert any(n.startswith("superlinear at 2 workers (efficiency 190%)") for n in an.notes)


def test_run_notes_flag_short_trials_and_changing_thread_counts() -> None:
    from bench.analysis.scaling.document import run_notes as _run_notes

    runs = [{"workers": 1, "status": "ok", "threads": 2, "trial_mean_s": 0.05},
            {"workers": 2, "status": "ok", "threads": 1, "trial_mean_s": 0.04}]
    notes = _run_notes({"runs": runs})
    assert any("trials take 0.04 s" in n for n in notes)
    assert any("(2 at 1, 1 at 2 workers)" in n and "--threads 1" in n for n in notes)
    steady = [{**r, "threads": 1, "trial_mean_s": 3.0} for r in runs]
    assert _run_notes({"runs": steady}) == []


def test_bounds_hold_for_superlinear_and_retrograde_data() -> None:
    superlinear = fit_amdahl([Point(1, 1.0), Point(2, 2.3), Point(4, 4.6)])
    assert superlinear.value("s") == pytest.approx(0.0, abs=1e-9)
    assert "s held at its bound" in superlinear.reason
    slower = fit_amdahl([Point(1, 1.0), Point(2, 0.7), Point(4, 0.5)])
    assert slower.value("s") == pytest.approx(1.0, abs=1e-9)
    retro = fit_usl([Point(1, 1.0), Point(2, 0.7), Point(4, 0.5), Point(8, 0.3)])
    assert retro.ok and retro.speedup(8) < 1.0


# --- sweep file, catalog --------------------------------------------------------------------------

def _sweep_doc(tmp_path: Path) -> dict[str, object]:
    an = analyze([(1, 2.0), (2, 3.6)], cores=(4, 128))
    return {"schema_version": 1, "kind": scaling.SWEEP_KIND, "strategy": "pool", **an.to_dict()}


def test_load_sweep_reads_a_directory_or_file_and_checks_the_version(tmp_path: Path) -> None:
    doc = _sweep_doc(tmp_path)
    (tmp_path / "sweep.json").write_text(json.dumps(doc))
    assert scaling.load_sweep(tmp_path)["strategy"] == "pool"
    assert scaling.load_sweep(tmp_path / "sweep.json")["fits"]["amdahl"]["status"] == EXACT
    assert scaling.strategy_sweeps(scaling.load_sweep(tmp_path))["pool"]["fits"] == doc["fits"]
    two = {"schema_version": 2, "kind": scaling.SWEEP_KIND, "config": {"threads": "1"},
           "machine": {"id": "m"}, "sweeps": {"pool": {"runs": [], **doc}, "ray": {"runs": []}}}
    (tmp_path / "two.json").write_text(json.dumps(two))
    per = scaling.strategy_sweeps(scaling.load_sweep(tmp_path / "two.json"))
    assert list(per) == ["pool", "ray"] and per["pool"]["fits"] == doc["fits"]
    assert per["ray"]["config"] == {"threads": "1"} and per["ray"]["strategy"] == "ray"
    (tmp_path / "flat2.json").write_text(json.dumps({**doc, "schema_version": 2}))
    with pytest.raises(ResultsError, match="holds no per-strategy sweeps"):
        scaling.load_sweep(tmp_path / "flat2.json")
    (tmp_path / "old.json").write_text(json.dumps({**doc, "schema_version": 0}))
    with pytest.raises(ResultsError, match="re-run `bench sweep`"):
        scaling.load_sweep(tmp_path / "old.json")
    (tmp_path / "other.json").write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(ResultsError, match="not a corebench sweep"):
        scaling.load_sweep(tmp_path / "other.json")
    with pytest.raises(ResultsError, match="no sweep at"):
        scaling.load_sweep(tmp_path / "missing")


def test_markdown_and_plot_render_from_a_saved_sweep(tmp_path: Path) -> None:
    an = analyze([(p.workers, p.speedup) for p in usl_points(0.05, 0.001, counts=(1, 2, 4, 8),
                                                               noise=0.02)], cores=(4, 16, 128))
    doc = {
        "strategy": "pool", "status": "complete", "cores_source": "test", "plot": "sweep.png",
        "command": ["bench", "sweep", "--strategy", "pool", "--workers", "1,2,4,8"],
        "config": Config().to_dict(), "machine": {"cpu_model": "cpu", "usable_cores": 8, "id": "x"},
        "runs": [{"workers": p.workers, "status": "ok", "trials_done": 4, "wall": 1.0,
                  "throughput": p.throughput} for p in an.points],
        **an.to_dict(),
    }
    md = render_markdown(doc, {"pool": an})
    assert "| usl |" in md and "| 128 * |" in md and "95% band" in md
    assert "Reproduce: `bench sweep --strategy pool --workers 1,2,4,8`" in md
    write_plot(tmp_path / "sweep.png", {"pool": an})
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- duration estimate ----------------------------------------------------------------------------

def test_run_seconds_counts_waves_over_the_effective_parallelism(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bench.config

    monkeypatch.setattr(bench.config, "usable_cores", lambda: 4)
    cfg = Config(trials=10, workers=8)
    s = calibrate.STARTUP_S
    assert calibrate.run_seconds(cfg, "pool", 2.0) == pytest.approx(s + 3 * 2.0)  # 4 usable cores
    assert calibrate.run_seconds(cfg.with_(workers=3), "pool", 2.0) == pytest.approx(s + 4 * 2.0)
    assert calibrate.run_seconds(cfg, "sequential", 2.0) == pytest.approx(s + 10 * 2.0)
    assert calibrate.run_seconds(cfg, "optuna-threads", 2.0) == pytest.approx(s + 10 * 2.0)
    capped = calibrate.run_seconds(cfg.with_(timeout=5.0), "sequential", 2.0)
    assert capped == pytest.approx(5.0 + s)
    total = calibrate.estimate_duration(cfg.with_(strategies=("pool",)), seconds_per_trial=2.0)
    assert total == pytest.approx(2 * s + 10 * 2.0 + 3 * 2.0)  # sequential baseline + pool


def test_trial_seconds_is_a_quick_positive_calibration_and_restores_torch_threads() -> None:
    import torch

    before = torch.get_num_threads()
    cfg = Config(population=16, generations=40, seeds=2, workers=1, threads="1")
    t = calibrate.trial_seconds(cfg)
    assert 0 < t < 60
    assert torch.get_num_threads() == before
    assert calibrate.format_duration(30) == "30 s"
    assert calibrate.format_duration(600) == "10 min"
    assert calibrate.format_duration(3 * 3600) == "3.0 h"


def test_trial_seconds_times_one_real_trial_of_a_user_objective() -> None:
    cfg = Config(objective="tests.fixtures.objectives:quadratic", workers=1)
    assert 0 < calibrate.trial_seconds(cfg) < 10


# --- sweep flags ----------------------------------------------------------------------------------

def test_worker_counts_are_parsed_sorted_and_checked() -> None:
    assert parse_worker_counts("4, 1,2") == (1, 2, 4)
    assert default_worker_counts(2) == (1, 2)
    assert default_worker_counts(12) == (1, 2, 4, 8, 12)
    assert default_worker_counts(16) == (1, 2, 4, 8, 16)
    for bad in ("1,x", "0,1", "1,2,2", "4", "1,,2"):
        with pytest.raises(ConfigError):
            parse_worker_counts(bad)
    assert parse_strategies(" pool, joblib-loky ,pool@unlimited/spawn") == (
        "pool", "joblib-loky", "pool@unlimited/spawn")


def test_worker_counts_are_interleaved_across_strategies() -> None:
    from bench.run.sweep import interleave

    order = interleave(("pool", "joblib-loky", "ray"), (1, 2, 4))
    assert order == [("pool", 1), ("joblib-loky", 1), ("ray", 1),
                     ("ray", 2), ("joblib-loky", 2), ("pool", 2),
                     ("pool", 4), ("joblib-loky", 4), ("ray", 4)]
    assert sorted(c for lb, c in order if lb == "ray") == [1, 2, 4]
    # Over an even number of counts every strategy sits, on average, at the same place in the
    # sweep: a slow drift of the machine weighs on each alike.
    even = interleave(("pool", "joblib-loky", "ray"), (1, 2, 4, 8))
    places = {lb: sum(i for i, (x, _) in enumerate(even) if x == lb) for lb in ("pool", "joblib-loky", "ray")}
    assert len(set(places.values())) == 1


BAD_SWEEPS = [
    ["--strategy", "pool", "--workers", "1,1"],
    ["--strategy", "pool", "--workers", "0,2"],
    ["--strategy", "pool", "--workers", "2"],
    ["--strategy", "pool", "--workers", "1,a"],
    ["--strategy", "sequential", "--workers", "1,2"],
    ["--strategies", "pool,pool", "--workers", "1,2"],
    ["--strategies", "pool,sequential", "--workers", "1,2"],
    ["--strategies", ",", "--workers", "1,2"],
    ["--strategy", "pool", "--strategies", "ray", "--workers", "1,2"],
    ["--strategy", "all", "--workers", "1,2"],
    ["--strategy", "nope", "--workers", "1,2"],
    ["--strategy", "pool", "--workers", "1,64"],  # > 4x the cores without --force
    ["--workers", "1,2"],  # --strategy or --strategies is required
]


@pytest.mark.parametrize("argv", BAD_SWEEPS, ids=[" ".join(a) for a in BAD_SWEEPS])
def test_bad_sweep_input_is_one_line_exit_2_and_starts_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    import bench.config

    monkeypatch.setattr(bench.config, "usable_cores", lambda: 2)
    assert main(["sweep", *argv, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bench")
    assert not list((tmp_path / "out").glob("*/*"))


def test_an_exact_fit_shows_what_a_5_percent_move_of_its_top_point_does() -> None:
    saved = json.loads(json.dumps(analyze([(1, 1.0), (2, 1.83)], cores=(128,)).to_dict()))
    pred = speedup_at(saved, 128)
    assert pred.low is None  # two counts: Amdahl passes through them, no band

    def amdahl_through(s2: float, n: int) -> float:  # closed form: s = 2 / S(2) - 1
        s = min(1.0, max(0.0, 2.0 / s2 - 1.0))
        return 1.0 / (s + (1.0 - s) / n)

    assert pred.speedup == pytest.approx(amdahl_through(1.83, 128), rel=1e-6)
    low, high = scaling.exact_sensitivity(saved, 128)
    assert low == pytest.approx(amdahl_through(1.83 * 0.95, 128), rel=1e-4)
    assert high == pytest.approx(amdahl_through(1.83 * 1.05, 128), rel=1e-4)
    assert low < pred.speedup < high and high > 2 * low  # what two points on 2 cores can tell


def test_a_fit_with_a_band_needs_no_sensitivity() -> None:
    an = analyze([(p.workers, p.speedup) for p in usl_points(0.05, 0.001, noise=0.01)], cores=(128,))
    assert scaling.exact_sensitivity(json.loads(json.dumps(an.to_dict())), 128) is None
