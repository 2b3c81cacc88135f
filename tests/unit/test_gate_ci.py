"""The gate's CI outputs: JUnit XML parsed back (one test case per check), GitHub annotations
and the step summary under GITHUB_ACTIONS, --json valid against the schema, exit codes unchanged."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from bench.analysis.gate import Check
from bench.cli import main
from bench.report import ci
from bench.report.json_out import schema

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_story"
RULES = """
[gate.pool]
min_processes = 2
forbid = ["THREADS_NOT_PROCESSES"]
[gate."pool@unlimited"]
forbid = ["OVERSUBSCRIBED"]
[gate."optuna-threads"]
require = ["THREADS_NOT_PROCESSES"]
"""


def _gate(tmp_path: Path, *extra: str) -> int:
    rules = tmp_path / "bench.toml"
    rules.write_text(RULES)
    return main(["gate", str(SEED), "--config", str(rules), "--summary", str(tmp_path / "gate.md"),
                 *extra])


def test_junit_has_one_case_per_check_and_fails_what_failed(tmp_path: Path) -> None:
    junit, doc_path = tmp_path / "gate.xml", tmp_path / "gate.json"
    assert _gate(tmp_path, "--junit", str(junit), "--json", str(doc_path), "-q") == 1
    doc = json.loads(doc_path.read_text())
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)
    checks = doc["gate"]["checks"]
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        (f"corebench.gate.{c['run']}", c["rule"]) for c in checks
    ]
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert failed == {("corebench.gate.pool@unlimited", "forbid OVERSUBSCRIBED")}
    assert suite.get("tests") == str(len(checks)) and suite.get("failures") == "1"
    message = next(c for c in cases if c.find("failure") is not None).find("failure").get("message")
    assert "measured present, limit absent" in message
    assert doc["gate"]["passed"] is False
    assert {f["code"] for f in doc["findings"] if f["run"] == "pool@unlimited"} >= {"OVERSUBSCRIBED"}


def test_github_actions_annotations_and_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("## an earlier step\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(tmp_path)
    assert _gate(tmp_path) == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert errors == [
        "::error file=bench.toml,title=corebench gate%3A pool@unlimited forbid OVERSUBSCRIBED::"
        "pool@unlimited: forbid OVERSUBSCRIBED measured present, limit absent"
    ]
    assert "::notice title=corebench gate::3 of 4 checks passed" in out
    text = summary.read_text()
    assert text.startswith("## an earlier step\n")  # appended, not replaced
    assert "## corebench gate: ❌ regression" in text and "| pool@unlimited | forbid OVERSUBSCRIBED |" in text


def test_outside_github_actions_no_annotations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "never.md"))
    rules_ok = 'pool = { min_processes = 2 }'
    rules = tmp_path / "ok.toml"
    rules.write_text(f"[gate]\n{rules_ok}\n")
    assert main(["gate", str(SEED), "--config", str(rules), "--summary", str(tmp_path / "g.md")]) == 0
    assert "::" not in capsys.readouterr().out
    assert not (tmp_path / "never.md").exists()


def test_annotation_escaping() -> None:
    c = Check("a,b", "rule: x", "50%\nmore", "<= 1", False)
    (line, notice) = ci.github_annotations([c], "dir/bench.toml")
    assert line == (
        "::error file=dir/bench.toml,title=corebench gate%3A a%2Cb rule%3A x::"
        "a,b: rule: x measured 50%25%0Amore, limit <= 1"
    )
    assert notice == "::notice title=corebench gate::0 of 1 checks passed"


def test_junit_of_no_checks_is_still_a_suite() -> None:
    root = ET.fromstring(ci.junit_xml([]))
    assert root.find("testsuite").get("tests") == "0" and root.find("testsuite").findall("testcase") == []


def test_junit_to_a_missing_directory_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _gate(tmp_path, "--junit", str(tmp_path / "no" / "gate.xml")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--junit" in err
