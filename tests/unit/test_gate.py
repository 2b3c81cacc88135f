"""Gate rules on measured ratios: each rule type passes and fails; bad rule files are exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis.gate import evaluate, parse_rules
from bench.errors import ConfigError
from bench.report.gate_md import render_markdown

METRICS = {
    "sequential": {
        "strategy": "sequential", "speedup": 1.0, "efficiency": 1.0, "processes_seen": 1, "findings": ["HEALTHY"]
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
