"""Each command's --json validates against the schema, on real runs; -q, -v, and the libraries'
own output kept in the results directory's bench.log instead of the terminal."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from bench.analysis.diagnose import Recorded, analyse
from bench.cli import main
from bench.report import build
from bench.report.json_out import FINDINGS_FILE, parts_document, schema
from tests.fixtures.objectives import NOISE
from tests.scripts.targets import target

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def validate(doc: dict) -> None:
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)


def bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_compare_verbose_json_on_stdout(tmp_path: Path) -> None:
    proc = bench("compare", "-p", "16", "-g", "3", "-s", "1", "-n", "2", "-w", "2", "--strategies", "pool",
                 "--no-stacks", "-v", "--json", "-", "-o", str(tmp_path), "--name", "c")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)  # stdout is the document and nothing else
    validate(doc)
    assert doc["command"] == "compare" and [r["label"] for r in doc["runs"]] == ["sequential", "pool"]
    assert all(r["trials_done"] == 2 for r in doc["runs"])
    # -v: one line per finished trial, the human output (summary, report path) on stderr.
    for label in ("sequential", "pool"):
        assert sum(f"[{label}] trial " in line and " complete in " in line
                   for line in proc.stderr.splitlines()) == 2
    assert "corebench summary" in proc.stderr and "report: " in proc.stderr
    saved = json.loads((tmp_path / "c" / FINDINGS_FILE).read_text())
    validate(saved)
    assert saved["runs"] == doc["runs"] and saved["findings"] == doc["findings"]


@pytest.mark.slow
def test_library_output_goes_to_the_log_unless_verbose(tmp_path: Path) -> None:
    common = ["--strategy", "pool", "-w", "2", "-n", "2", "--preset", "smoke", "--no-stacks",
              "--objective", "tests.fixtures.objectives:noisy", "-o", str(tmp_path)]
    out = tmp_path / "q.json"
    quiet = bench("run", *common, "--name", "q", "-q", "--json", str(out))
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert NOISE not in quiet.stdout + quiet.stderr
    assert NOISE in (tmp_path / "q" / "bench.log").read_text()
    # -q: the verdict line and the report path, nothing else.
    lines = quiet.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("verdict: ")
    assert lines[1] == f"report: {tmp_path / 'q' / 'report.md'}"
    assert quiet.stderr == ""
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["command"] == "run" and doc["verdict_line"] == lines[0]

    loud = bench("run", *common, "--name", "v", "-v", "--no-report", "--json", str(tmp_path / "v.json"))
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert NOISE in loud.stderr
    assert not (tmp_path / "v" / "bench.log").exists()
    doc = json.loads((tmp_path / "v.json").read_text())
    validate(doc)
    assert "report" not in doc  # no report was written, so none is named
    assert [r["label"] for r in doc["runs"]] == ["pool"] and doc["runs"][0]["trials_done"] == 2


@pytest.mark.slow
def test_sweep_json(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    proc = bench("sweep", "--strategy", "pool", "-w", "1,2", "-p", "16", "-g", "3", "-s", "1", "-n", "2",
                 "--no-stacks", "--no-estimate", "-q", "--json", str(out), "-o", str(tmp_path),
                 "--name", "s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["command"] == "sweep" and doc["sweep"]["workers"] == [1, 2]
    assert [r["workers"] for r in doc["sweep"]["sweeps"]["pool"]["runs"]] == [1, 2]
    assert doc["sweep"]["sweeps"]["pool"]["fits"]
    assert doc["sweep"] == {k: v for k, v in json.loads((tmp_path / "s" / "sweep.json").read_text()).items()
                            if k not in ("machine", "git", "config")}
    assert proc.stdout.splitlines() == [f"report: {tmp_path / 's' / 'sweep.md'}"]


def test_attach_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with target("busy_threads.py", "1", "20") as proc:
        code = main(["attach", "--pid", str(proc.pid), "--duration", "1.5", "--interval", "0.25",
                     "--no-stacks", "--out", str(tmp_path / "a"), "--json", "-"])
    assert code == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    validate(doc)
    assert doc["command"] == "attach" and doc["attach"]["pid"] == proc.pid
    assert doc["attach"]["summary"]["tree_samples"] >= 3
    assert "attach summary" in captured.err
    meta = json.loads((tmp_path / "a" / "run.json").read_text())
    assert [f["code"] for f in doc["findings"]] == [f["code"] for f in meta.get("findings", [])]


def test_report_writes_findings_json_beside_report_md(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "run"
    shutil.copytree(FIXTURES / "seed_story", src)
    out = tmp_path / "elsewhere" / "r.md"
    assert main(["report", str(src), "--out", str(out), "--json", "-"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # stdout holds the document alone
    assert f"report: {out}" in captured.err
    validate(doc)
    assert doc["command"] == "report"
    saved = json.loads((out.parent / FINDINGS_FILE).read_text())
    validate(saved)
    assert saved["findings"] == doc["findings"] and saved["report"] == str(out)
    d = analyse(Recorded.load(src))
    assert saved["runs"] == parts_document(build(d, out.parent), "report")["runs"]


def test_report_quiet_prints_verdict_and_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "run"
    shutil.copytree(FIXTURES / "gil_threads", src)
    assert main(["report", str(src), "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("verdict: root cause ") and "optuna-threads" in lines[0]
    assert lines[1] == f"report: {src / 'report.md'}"
