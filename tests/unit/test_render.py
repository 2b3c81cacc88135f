"""Terminal output: tables take the terminal's width and colours (NO_COLOR honoured), and are
plain aligned text without box drawing, escape codes or trailing blanks in a pipe."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bench.cli.render import console, print_summary, show, table
from bench.records.rundir import RunDir

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_story"
ESC = re.compile(r"\x1b\[[0-9;]*m")
BOX = set("┏┓┗┛━┃│─┡┩╇┳┻╋")


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _render(stream: io.StringIO) -> str:
    con = console(stream)
    t = table(con, "title")
    t.add_column("name")
    t.add_column("value", justify="right")
    t.add_row("[red]" + "x" * 30 + "[/red]", "y" * 40)
    t.add_row("short", "1")
    show(con, t)
    return stream.getvalue()


def test_pipe_is_plain_aligned_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = _render(io.StringIO())
    assert not ESC.search(out) and not (set(out) & BOX)
    lines = out.splitlines()
    assert lines[0] == "title"
    assert all(line == line.rstrip() for line in lines)
    # Right-justified values end in the same column; nothing wrapped to a guessed width.
    assert len(lines) == 4 and lines[2].endswith("y" * 40) and len(lines[3]) == len(lines[2])


def test_terminal_follows_its_width_and_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "50")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = _render(FakeTty())
    assert "\x1b[31m" in out and set(out) & BOX
    assert max(len(line) for line in ESC.sub("", out).splitlines()) == 50  # wrapped to fit
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[31m" not in _render(FakeTty())


def test_summary_in_a_pipe_has_every_run_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    stream = io.StringIO()
    print_summary(RunDir(SEED), console(stream))
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"corebench summary: {SEED}"
    labels = [line.split()[0] for line in lines[2:]]
    assert labels == ["sequential", "optuna-threads", "pool", "pool@unlimited"]
    assert len({len(line.split()) for line in lines[2:]}) == 1


def test_verbose_progress_prints_a_line_per_finished_trial(tmp_path: Path) -> None:
    import json

    from bench.run.progress import Progress

    stream = io.StringIO()
    trials = tmp_path / "trials.jsonl"
    with Progress(tmp_path, "pool", 2, live=False, stream=stream, interval=0.05, trial_lines=True):
        with trials.open("a") as fh:
            for rec in (
                {"run": "pool", "number": 0, "state": "complete", "start": 10.0, "end": 10.5,
                 "value": 0.25, "pid": 41},
                {"run": "other", "number": 0, "state": "complete", "start": 1.0, "end": 2.0},
                {"run": "pool", "number": 1, "state": "fail", "start": 10.0, "end": 11.0,
                 "error": "ValueError: boom", "pid": 42},
            ):
                fh.write(json.dumps(rec) + "\n")
    lines = stream.getvalue().splitlines()
    assert [line for line in lines if " trial " in line] == [
        "[pool] trial 0 complete in 0.50 s value 0.25 pid 41",
        "[pool] trial 1 fail in 1.00 s pid 42 (ValueError: boom)",
    ]
    assert lines[-1].startswith("[pool] 2/2 trials done; (1 not complete)")
