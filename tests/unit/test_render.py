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
