"""The results JSON document: built from the report's own objects, valid against the shipped
schema for every recorded fixture, strict JSON, and the same findings the diagnosis gives."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jsonschema
import pytest

from bench.analysis.diagnose import Recorded, analyse, diagnose
from bench.cli import main
from bench.report.cost import MeasuredCost
from bench.report.json_out import SCHEMA_VERSION, plain, results_document, schema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REAL = sorted(p.parent for p in FIXTURES.glob("*/fixture.json"))


def validate(doc: dict) -> None:
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION


@pytest.mark.parametrize("fixture", REAL, ids=lambda p: p.name)
def test_document_of_each_recorded_fixture_validates(fixture: Path) -> None:
    doc = json.loads(json.dumps(results_document(fixture, "report"), allow_nan=False))
    validate(doc)
    d = analyse(Recorded.load(fixture))
    assert [r["label"] for r in doc["runs"]] == d.recorded.labels
    # Findings are the diagnosis's own, evidence included, not text scraped from report.md.
    assert [(f["run"], f["code"]) for f in doc["findings"]] == [(f.run, f.code) for f in diagnose(fixture)]
    assert [f["evidence"] for f in doc["findings"]] == [plain(f.evidence) for f in diagnose(fixture)]
    for row in doc["runs"]:
        assert row["findings"] == [f.code for f in d.findings[row["label"]]]


def test_cost_rows_are_their_dataclasses_fields() -> None:
    doc = results_document(FIXTURES / "seed_story", "report")
    names = {f.name for f in dataclasses.fields(MeasuredCost)}
    assert doc["cost"]["measured"] and all(set(m) == names for m in doc["cost"]["measured"])
    assert all(isinstance(p["vm"], dict) and "vcpus" in p["vm"] for p in doc["cost"]["projected"])


def test_schema_rejects_what_it_must() -> None:
    doc = results_document(FIXTURES / "healthy_pool", "report")
    validate(doc)
    for broken in (
        {k: v for k, v in doc.items() if k != "runs"},
        {**doc, "schema_version": SCHEMA_VERSION + 1},
        {**doc, "findings": [{**doc["findings"][0], "severity": "fatal"}]},
        {**doc, "runs": [{**doc["runs"][0], "speedup": "fast"}]},
        {**doc, "command": "gate"},  # a gate document carries its checks
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_plain_makes_strict_json() -> None:
    @dataclasses.dataclass(frozen=True)
    class Row:
        x: float
        ys: tuple[float, ...]
        where: Path

    out = plain({"r": Row(math.nan, (1.0, math.inf), Path("/a"))})
    assert out == {"r": {"x": None, "ys": [1.0, None], "where": "/a"}}
    json.dumps(out, allow_nan=False)


def test_json_to_a_missing_directory_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", str(FIXTURES / "seed_story"), "--json", str(tmp_path / "no" / "x.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
