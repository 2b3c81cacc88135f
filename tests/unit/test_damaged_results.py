"""`bench report` and `bench gate` on damaged results: one line on stderr and exit 2 (never a
traceback, never exit 1, which the gate keeps for regressions, never a hang); a bad JSONL line is
skipped with a count; text from the results is escaped and cut in report.md and gate.md."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from bench.cli import main
from tests.support import synthetic as S
from tests.support.damaged import bounded, place, valid_sim

GATE_RULES = '[gate.pool]\nmin_processes = 2\nforbid = ["OVERSUBSCRIBED"]\n'
HOSTILE = "x`<img src=x onerror=alert(1)>`**b**"
BOUND_S = 20  # the old reader waited forever on a FIFO


def results(tmp_path: Path, name: str = "r", **meta: object) -> Path:
    return S.write(valid_sim(), tmp_path / name, {**S.meta(), **meta})


def gate_rules(tmp_path: Path, text: str = GATE_RULES) -> Path:
    p = tmp_path / "gate.toml"
    p.write_text(text)
    return p


def run_report(rd: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    with bounded(BOUND_S):
        code = main(["report", str(rd), "--out", str(rd.parent / "out" / "report.md"), *extra])
    return code, capsys.readouterr().err


def run_gate(rd: Path, rules: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    with bounded(BOUND_S):
        code = main(["gate", str(rd), "--config", str(rules), "--summary", str(rd.parent / "gate.md"), *extra])
    return code, capsys.readouterr().err


def outside_code(text: str) -> str:
    """`text` without its code spans (CommonMark: a run of backticks closed by one as long)."""
    return re.sub(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)", "", text)


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), err
    assert "Traceback" not in err
    return lines[0]


def both_refuse(rd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], says: str) -> None:
    """`bench report` and `bench gate` on `rd` each exit 2 with one error line that says `says`."""
    code, err = run_report(rd, capsys)
    assert code == 2 and says in one_error_line(err)
    code, err = run_gate(rd, gate_rules(tmp_path), capsys)
    assert code == 2 and says in one_error_line(err)


# --- run.json ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"[]", "holds a JSON list, not an object"),
        (b"5", "holds a JSON number, not an object"),
        (b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary", "is not text"),
        (b"", "is not valid JSON"),
        (b'{"schema_version": 1, "machine": "x"}', "machine"),
        (b'{"schema_version": 1, "plan": ["<img src=x>"]}', "plan.0: not a run label"),
        (b'{"schema_version": 1, "created": "yesterday"}', "created"),
    ],
    ids=["list", "number", "binary", "empty", "machine-not-object", "bad-label", "wrong-type"],
)
def test_a_damaged_run_json_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, says: str
) -> None:
    rd = results(tmp_path)
    (rd / "run.json").write_bytes(content)
    both_refuse(rd, tmp_path, capsys, says)


@pytest.mark.parametrize("kind", ["fifo", "dir"], ids=["fifo", "directory"])
def test_run_json_that_is_not_a_regular_file_is_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    rd = results(tmp_path)
    place(rd / "run.json", kind)
    both_refuse(rd, tmp_path, capsys, "not a regular file")


# --- JSONL files -------------------------------------------------------------------------------
def test_lines_that_are_not_records_are_skipped_with_a_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rd = results(tmp_path)
    with (rd / "trials.jsonl").open("a") as fh:
        fh.write('[1, 2]\n5\n{"run": "pool", "number": 9, "state": "complete", "start": "x", "end": 3}\n')
    with (rd / "samples.jsonl").open("a") as fh:
        fh.write('{"kind": "tree", "run": "pool", "t": 1, "procs": [{"pid": 1, "cpu_pct": "lots"}]}\n')
    code, err = run_report(rd, capsys)
    assert code == 0, err
    assert "bench: warning: 3 lines skipped in trials.jsonl (line 5: a JSON list, not an object)" in err
    assert "bench: warning: 1 line skipped in samples.jsonl" in err and "procs.0.cpu_pct" in err
    assert "Traceback" not in err
    report = (rd.parent / "out" / "report.md").read_text()
    assert "| `pool` | ok |" in report  # the good lines still make the report
    code, err = run_gate(rd, gate_rules(tmp_path), capsys)
    assert code == 0 and "3 lines skipped in trials.jsonl" in err



def test_control_characters_from_a_damaged_file_stay_on_one_escaped_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key of a damaged record is quoted in the warning (and in run.json's error): \\x1c breaks
    a line for splitlines, ESC starts a terminal escape sequence (found by the results fuzz)."""
    rd = results(tmp_path)
    key = "k\x1cj\x1b[2J\u2028"
    with (rd / "samples.jsonl").open("a") as fh:
        fh.write(json.dumps({"kind": "stack", "run": "pool", "t": 1.0, "counts": {key: None}}) + "\n")
    code, err = run_report(rd, capsys)
    assert code == 0, err
    (line,) = err.splitlines()
    assert line.startswith("bench: warning: 1 line skipped in samples.jsonl") and "\\x1b[2J" in line
    assert "\x1b" not in err
    meta = json.loads((rd / "run.json").read_text())
    meta["machine"]["versions"] = {key: 5}  # a version is a string: the error names this key
    (rd / "run.json").write_text(json.dumps(meta))
    for code, err in (run_report(rd, capsys), run_gate(rd, gate_rules(tmp_path), capsys)):
        assert code == 2 and "machine.versions.k j\\x1b[2J" in one_error_line(err), err
        assert "\x1b" not in err


def test_measures_too_large_to_add_up_are_skipped_not_plotted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1e308 is finite, but two of them add to infinity: a CPU figure that size is damage, and it
    used to reach matplotlib as an infinite axis limit (an internal error, found by the fuzz)."""
    sim = valid_sim()
    tree = next(s for s in sim.samples if s.get("kind") == "tree")
    sim.samples += [{**tree, "t": tree["t"] + 0.1, "unattributed_cpu_s": 1e308},
                    {**tree, "t": tree["t"] + 0.2, "cpu_pct_total": -1e308}]
    rd = S.write(sim, tmp_path / "r", S.meta())
    code, err = run_report(rd, capsys)
    assert code == 0, err
    assert "bench: warning: 2 lines skipped in samples.jsonl" in err, err
    assert "internal error" not in err and "Traceback" not in err
    assert (rd.parent / "out" / "report.md").is_file()
    code, err = run_gate(rd, gate_rules(tmp_path), capsys)
    assert code == 0 and "2 lines skipped in samples.jsonl" in err, err

@pytest.mark.parametrize("kind", ["dir", "fifo", "loop"], ids=["directory", "fifo", "symlink-loop"])
def test_a_jsonl_path_that_cannot_be_read_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    rd = results(tmp_path)
    place(rd / "trials.jsonl", kind)
    both_refuse(rd, tmp_path, capsys, "trials.jsonl")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_jsonl_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rd = results(tmp_path)
    (rd / "samples.jsonl").chmod(0)
    code, err = run_gate(rd, gate_rules(tmp_path), capsys)
    assert code == 2 and "samples.jsonl" in one_error_line(err)


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01\xff binary sweep", b"[]", b'{"kind": "corebench-sweep", "schema_version": 1, "fits": 5}'],
    ids=["binary", "list", "fits-not-object"],
)
def test_a_damaged_sweep_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    rd = results(tmp_path)
    sweep = tmp_path / "sweep.json"
    sweep.write_bytes(content)
    code, err = run_report(rd, capsys, "--sweep", str(sweep))
    assert code == 2 and "sweep.json" in one_error_line(err)


# --- what the report shows ---------------------------------------------------------------------
def test_a_huge_note_and_reason_are_cut_in_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rd = results(tmp_path)
    big = "n" * 5_000_000
    with (rd / "samples.jsonl").open("a") as fh:
        fh.write(json.dumps({"kind": "note", "run": "pool", "t": S.T0, "probe": "stack", "level": "warning",
                             "message": big}) + "\n")
    runs = [json.loads(x) for x in (rd / "runs.jsonl").read_text().splitlines()]
    runs[1].update(status="failed", reason="r" * 5_000_000)
    (rd / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    code, err = run_report(rd, capsys)
    assert code == 0, err
    report = (rd.parent / "out" / "report.md").read_text()
    assert len(report) < 60_000
    assert "(warning): " + "n" * 299 + "…" in report and "n" * 300 not in report
    assert "r" * 300 not in report


def test_hostile_text_is_escaped_everywhere_in_report_and_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rd = results(tmp_path, name=HOSTILE, command=["bench", "compare", "--name", HOSTILE],
                 machine={"cpu_model": "<script>alert(1)</script>", "usable_cores": 2, "id": "`x`"})
    runs = [json.loads(x) for x in (rd / "runs.jsonl").read_text().splitlines()]
    runs[1].update(status="failed", reason=f"died: {HOSTILE}")
    (rd / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    with (rd / "samples.jsonl").open("a") as fh:
        fh.write(json.dumps({"kind": "note", "run": "pool", "t": S.T0, "probe": "stack", "level": "warning",
                             "message": f"note {HOSTILE}\n# heading"}) + "\n")
    code, err = run_report(rd, capsys)
    assert code == 0, err
    report = (rd.parent / "out" / "report.md").read_text()
    # HTML only inside code spans, where markdown shows it as text.
    assert "<img" not in outside_code(report) and "<script" not in outside_code(report)
    assert "\n# heading" not in report
    # Outside code spans the text is escaped; inside, the fence is longer than its backticks.
    assert "# corebench report: x\\`&lt;img src=x onerror=alert(1)&gt;\\`\\*\\*b\\*\\*" in report
    assert f"``bench compare --name '{HOSTILE}'``" in report
    assert "died: x\\`&lt;img" in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report

    rules = gate_rules(tmp_path, f'[gate."{HOSTILE}"]\nmin_processes = 2\n[gate.pool]\nmin_processes = 1\n')
    code, err = run_gate(rd, rules, capsys)
    gate_md = (rd.parent / "gate.md").read_text()
    assert code == 1  # the hostile run is required and missing: a real failure
    assert "<img" not in outside_code(gate_md)
    assert "| x\\`&lt;img src=x onerror=alert(1)&gt;\\`\\*\\*b\\*\\* | present |" in gate_md


# --- the gate ----------------------------------------------------------------------------------
def test_a_gate_that_checks_nothing_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rd = results(tmp_path)
    rules = gate_rules(tmp_path, "[gate.ray]\nrequired = false\nmin_processes = 2\n")
    code, err = run_gate(rd, rules, capsys)
    assert code == 2 and "nothing was checked" in one_error_line(err)
    assert "nothing checked" in (rd.parent / "gate.md").read_text()


@pytest.mark.parametrize("rule", ["min_efficiency = nan", "max_drop = inf", "min_speedup = -inf"])
def test_non_finite_thresholds_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: str) -> None:
    rd = results(tmp_path)
    code, err = run_gate(rd, gate_rules(tmp_path, f"[gate.pool]\n{rule}\n"), capsys)
    assert code == 2 and "finite" in one_error_line(err)


def test_the_result_files_share_one_mode(tmp_path: Path) -> None:
    from bench.records.rundir import TRIALS_FILE, RunDir

    old = os.umask(0o027)
    try:
        rd = RunDir.create(tmp_path, "m")
        rd.write_meta({"plan": []})
        rd.appender(TRIALS_FILE).append({"run": "pool", "number": 0})
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in rd.path.iterdir()}
    assert modes == {"run.json": 0o640, "trials.jsonl": 0o640}
