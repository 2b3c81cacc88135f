"""Gate rules on measured ratios: each rule type passes and fails; bad rule files are exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis.gate import evaluate, parse_rules, passed, verdict
from bench.errors import ConfigError
from bench.report.gate_md import render_markdown

METRICS = {
    "sequential": {
        "strategy": "sequential", "throughput": 0.5, "speedup": 1.0, "efficiency": 1.0, "processes_seen": 1,
        "findings": ["HEALTHY"]
    },
    "pool": {"strategy": "pool", "speedup": 1.85, "efficiency": 0.92, "processes_seen": 2, "findings": ["HEALTHY"]},
    "optuna-threads": {"strategy": "optuna-threads", "speedup": 1.02, "efficiency": 0.51, "processes_seen": 1,
                       "findings": ["THREADS_NOT_PROCESSES", "GIL_BOUND"]},
}


def _verdicts(table: dict, metrics: dict = METRICS, baseline: dict | None = None) -> dict[tuple[str, str], bool]:
    return {(c.run, c.rule): c.passed for c in evaluate(parse_rules(table), metrics, baseline)}


@pytest.mark.parametrize(
    ("rule", "value", "run", "expected"),
    [
        ("min_speedup", 1.5, "pool", True),
        ("min_speedup", 1.9, "pool", False),
        ("min_efficiency", 0.9, "pool", True),
        ("min_efficiency", 0.95, "pool", False),
        ("min_processes", 2, "pool", True),
        ("min_processes", 2, "optuna-threads", False),
    ],
)
def test_threshold_rules(rule: str, value: float, run: str, expected: bool) -> None:
    assert _verdicts({run: {rule: value}})[(run, rule)] is expected


def test_forbid_and_require_findings() -> None:
    v = _verdicts({
        "pool": {"forbid": ["OVERSUBSCRIBED"]},
        "optuna-threads": {"require": ["GIL_BOUND"], "forbid": ["THREADS_NOT_PROCESSES"]},
    })
    assert v[("pool", "forbid OVERSUBSCRIBED")] is True
    assert v[("optuna-threads", "require GIL_BOUND")] is True
    assert v[("optuna-threads", "forbid THREADS_NOT_PROCESSES")] is False


def test_default_applies_to_every_run_but_not_ratios_of_the_baseline() -> None:
    v = _verdicts({"default": {"min_speedup": 1.5}})
    assert v[("pool", "min_speedup")] is True
    assert v[("optuna-threads", "min_speedup")] is False
    assert ("sequential", "min_speedup") not in v


def test_max_drop_against_a_baseline() -> None:
    baseline = {"pool": {**METRICS["pool"], "speedup": 1.9}}
    assert _verdicts({"pool": {"max_drop": 0.1}}, baseline=baseline)[("pool", "max_drop vs baseline")] is True
    baseline = {"pool": {**METRICS["pool"], "speedup": 3.0}}
    assert _verdicts({"pool": {"max_drop": 0.1}}, baseline=baseline)[("pool", "max_drop vs baseline")] is False


def test_a_named_run_that_is_missing_fails_unless_optional() -> None:
    assert _verdicts({"ray": {"min_speedup": 1.2}})[("ray", "present")] is False
    assert ("ray", "present") not in _verdicts({"ray": {"min_speedup": 1.2, "required": False}})


def test_markdown_lists_every_check_with_its_figure() -> None:
    checks = evaluate(parse_rules({"pool": {"min_speedup": 1.9}}), METRICS)
    text = render_markdown(checks, "t")
    assert "regression" in text and "1.85x" in text and ">= 1.90x" in text


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "no gate rules"),
        ({"pool": 3}, "must be a table"),
        ({"pool": {"min_sppedup": 1}}, "unknown gate rule"),
        ({"pool": {"min_speedup": "fast"}}, "non-negative number"),
        ({"pool": {"min_processes": 0}}, "integer >= 1"),
        ({"pool": {"forbid": ["SLOW"]}}, "unknown finding"),
        ({"pool": {"require": "GIL_BOUND"}}, "list of finding codes"),
    ],
)
def test_bad_rules(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rules(table)


def test_invalid_rule_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    bad = tmp_path / "rules.toml"
    bad.write_text("[gate.pool\nmin_speedup = 1\n")
    assert main(["gate", str(tmp_path), "--config", str(bad)]) == 2
    assert "invalid TOML" in capsys.readouterr().err


# --- a contended machine: ratios cannot be judged ------------------------------------------------
def _contended(*labels: str) -> dict:
    return {label: {**m, "findings": [*m["findings"], "CONTENDED"], "foreign_share": 0.8}
            if label in labels else m for label, m in METRICS.items()}


def test_a_ratio_of_a_contended_run_is_inconclusive_whichever_way_it_came_out() -> None:
    table = {"pool": {"min_speedup": 1.9, "min_efficiency": 0.5, "min_processes": 2}}
    checks = {c.rule: c for c in evaluate(parse_rules(table), _contended("pool"))}
    # 1.85x < 1.9x would fail and 92% >= 50% would pass: neither is judged on a busy machine
    assert checks["min_speedup"].result == "inconclusive" and not checks["min_speedup"].failed
    assert checks["min_efficiency"].result == "inconclusive"
    assert "pool (80% of the cores)" in checks["min_speedup"].inconclusive
    assert checks["min_processes"].result == "pass"  # not a ratio: still judged
    assert verdict(list(checks.values())) == "pass" and passed(list(checks.values()))


def test_a_contended_sequential_baseline_makes_every_speedup_inconclusive() -> None:
    checks = evaluate(parse_rules({"pool": {"min_speedup": 1.5}}), _contended("sequential"))
    (check,) = checks
    assert check.passed and check.inconclusive and "sequential" in check.inconclusive
    assert verdict(checks) == "inconclusive" and not passed(checks)


def test_a_contended_baseline_results_dir_makes_the_drop_inconclusive() -> None:
    baseline = {"pool": {**METRICS["pool"], "speedup": 3.0, "findings": ["CONTENDED"]}}
    (check,) = evaluate(parse_rules({"pool": {"max_drop": 0.1}}), METRICS, baseline)
    assert check.inconclusive and "the baseline's pool" in check.inconclusive
    (check,) = evaluate(parse_rules({"pool": {"max_drop": 0.1}}), METRICS,
                        {"pool": {**METRICS["pool"], "speedup": 3.0}})
    assert check.failed


def test_contention_does_not_hide_a_structural_regression() -> None:
    table = {"optuna-threads": {"min_speedup": 1.5, "min_processes": 2}}
    checks = evaluate(parse_rules(table), _contended("optuna-threads"))
    assert verdict(checks) == "regression"
    assert [c.rule for c in checks if c.failed] == ["min_processes"]


def test_markdown_and_ci_outputs_say_inconclusive_and_why() -> None:
    from bench.report import ci

    table = {"pool": {"min_speedup": 1.9, "min_processes": 2}}
    checks = evaluate(parse_rules(table), _contended("pool"))
    text = render_markdown(checks, "t")
    assert "✅ pass (⚠️ 1 inconclusive)" in text and "| ⚠️ inconclusive |" in text
    assert "Inconclusive: other processes kept the cores busy while pool" in text
    xml = ci.junit_xml(checks)
    assert 'skipped="1"' in xml and 'failures="0"' in xml and "<skipped message=\"inconclusive:" in xml
    notes = ci.github_annotations(checks)
    assert notes[0].startswith("::warning title=corebench gate%3A pool min_speedup::")


def test_a_gate_that_could_judge_nothing_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A results dir recorded while the machine was full (synthetic samples: every core busy,
    the run using one): speed rules alone cannot pass or fail it."""
    from bench.cli import main
    from tests.support import synthetic as S

    sim = S.Sim()
    S.simulate(sim, "sequential", trials=4, trial_s=2.0)
    S.simulate(sim, "pool", start=20, workers=2, slots=1, separate_pids=True, trials=4)
    for s in sim.samples:
        if s.get("kind") == "tree":
            s["per_core"] = [100.0, 100.0]
    results = S.write(sim, tmp_path / "busy", S.meta())
    rules = tmp_path / "bench.toml"
    rules.write_text("[gate.pool]\nmin_speedup = 5.0\n")
    assert main(["gate", str(results), "--config", str(rules), "--summary", str(tmp_path / "g.md")]) == 2
    err = capsys.readouterr().err
    assert "every check was inconclusive" in err
    rules.write_text("[gate.pool]\nmin_speedup = 5.0\nforbid = [\"THREADS_NOT_PROCESSES\"]\n")
    assert main(["gate", str(results), "--config", str(rules), "--summary", str(tmp_path / "g.md")]) == 0
    assert "⚠️ inconclusive" in (tmp_path / "g.md").read_text()
