"""The CLI's one exit point: usage and config errors are one line on stderr and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import __version__
from bench.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_strategies_lists_every_strategy_with_availability(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.strategies import names

    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in names():
        assert name in out


BAD_ARGV = [
    ["frobnicate"],
    ["compare", "--strategies", "nope"],
    ["compare", "-n", "abc"],
    ["compare", "-w", "0"],
    ["compare", "-g", "-1"],
    ["compare", "--threads", "many"],
    ["run"],  # --strategy is required
    ["run", "--strategy", "pool", "--objective", "nowhere_xyz:f"],
    ["compare", "--config", "/nonexistent/bench.toml"],
    ["compare", "--preset", "gigantic"],
    ["compare", "--strategies", ""],
    ["compare", "--trial-timeout", "nan"],
    ["compare", "--trial-timeout", "inf"],
    ["compare", "--timeout", "inf"],
    ["compare", "--probe-interval", "inf"],
    ["compare", "--probe-interval", "nan"],
    ["compare", "--probe-interval", "1e-9"],
    ["compare", "--price-per-hour", "nan"],
    ["compare", "--sampler-seed", "99999999999"],
    ["compare", "--threads", "1000"],
    ["compare", "--population", "100000000"],
    ["run", "--strategy", "pool", "--storage", "postgresql+psycopg2://u:hunter2@db.example/x"],
    ["run", "--strategy", "pool", "--storage", "nosuchdb://u:hunter2@db.example/x?token=hunter2"],
]


@pytest.mark.parametrize("argv", BAD_ARGV, ids=[" ".join(a) for a in BAD_ARGV])
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "-o", str(tmp_path / "out")] if argv[0] in ("compare", "run") and len(argv) > 1 else argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bench")
    assert "hunter2" not in err[0]
    assert not (tmp_path / "out").exists(), "validated before anything is created"


def test_bad_input_from_the_console_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "compare", "--strategies", "pool,nope", "-o", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown strategy 'nope'" in proc.stderr


def test_strategies_from_bench_toml_are_used_by_a_bare_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench.toml").write_text('strategies = ["pool"]\n')
    assert main(["compare", "--check"]) == 0
    assert json.loads(capsys.readouterr().out)["strategies"] == ["pool"]
    assert main(["compare", "--check", "--strategies", "ray"]) == 0
    assert json.loads(capsys.readouterr().out)["strategies"] == ["ray"]
    assert not (tmp_path / "reports").exists(), "--check creates nothing"


def test_check_prints_secrets_masked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--strategy", "ray", "--check", "-o", str(tmp_path),
            "--storage", f"sqlite:///{tmp_path}/s.db?password=hunter2", "--ray-address", "ray://u:hunter2@h:10001"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and out.count("***") == 2
