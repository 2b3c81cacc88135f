"""`bench diff` on recorded pairs (tests/fixtures/diff/, made by make_diff_fixtures.py): the same
command twice is noise, the same search with unlimited threads per worker is a regression."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from bench.analysis.diff import NOISE, NOT_COMPARABLE, SLOWER, diff_dirs
from bench.cli import main
from bench.report.json_out import schema

PAIRS = Path(__file__).resolve().parents[1] / "fixtures" / "diff"
BASE, NOISE_DIR, REGRESSED = PAIRS / "base", PAIRS / "noise", PAIRS / "regressed"


def test_noise_pair_is_called_noise() -> None:
    d = diff_dirs(BASE, NOISE_DIR)
    assert [r.label for r in d.rows] == ["sequential", "pool"]
    assert d.significant() == []
    for r in d.rows:
        assert r.verdict == NOISE
        assert r.ratio_low is not None and r.ratio_high is not None and r.ratio_low < 1 < r.ratio_high
        assert r.p_trial_time is not None and r.p_trial_time > 0.05
    assert d.same_machine and d.warnings() == []


def test_regressed_pair_calls_pool_slower() -> None:
    d = diff_dirs(BASE, REGRESSED)
    pool = next(r for r in d.rows if r.label == "pool")
    assert pool.verdict == SLOWER
    assert pool.ratio_high is not None and pool.ratio_high < 1
    assert pool.throughput_ratio is not None and pool.throughput_ratio < pool.ratio_high
    assert pool.p_trial_time is not None and pool.p_trial_time < 0.01  # single trials got slower
    assert "OVERSUBSCRIBED" in pool.findings_appeared or pool.speedup_b < pool.speedup_a
    # The settings that differ are named: the difference is by design here.
    assert [(c.name, c.a, c.b) for c in d.config_differences] == [("threads", "auto", "unlimited")]


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.json"
    assert main(["diff", str(BASE), str(NOISE_DIR), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no difference larger than the runs' own noise" in text
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)
    assert {r["verdict"] for r in doc["diff"]["rows"]} == {"within noise"}

    assert main(["diff", str(BASE), str(REGRESSED), "--json", "-", "-q"]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)
    assert next(r for r in doc["diff"]["rows"] if r["label"] == "pool")["verdict"] == "slower"
    assert "slower beyond noise" in captured.err and "pool" in captured.err


def test_other_machine_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    shutil.copytree(NOISE_DIR, other)
    meta = json.loads((other / "run.json").read_text())
    meta["machine"].update(id="0000deadbeef", usable_cores=64, logical_cores=64)
    (other / "run.json").write_text(json.dumps(meta))
    d = diff_dirs(BASE, other)
    assert not d.same_machine
    assert {m.name for m in d.machine_differences} >= {"usable_cores", "logical_cores"}
    main(["diff", str(BASE), str(other), "-q"])
    err = capsys.readouterr().err
    assert "different machine shapes" in err and "usable_cores 2 vs 64" in err


def test_too_few_trials_is_not_comparable(tmp_path: Path) -> None:
    short = tmp_path / "short"
    shutil.copytree(NOISE_DIR, short)
    rows = [json.loads(line) for line in (short / "trials.jsonl").read_text().splitlines()]
    kept = [r for r in rows if r["run"] != "pool"] + [r for r in rows if r["run"] == "pool"][:2]
    (short / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    pool = next(r for r in diff_dirs(BASE, short).rows if r.label == "pool")
    assert pool.verdict == NOT_COMPARABLE and "at least 3" in pool.reason


def test_missing_directory_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(BASE), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
