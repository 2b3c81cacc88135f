"""`--objective pkg.module:function` runs the user's own Optuna objective instead of the GA."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("strategy", ["sequential", "pool"])
def test_user_objective_runs_and_values_are_its_own(tmp_path: Path, strategy: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--strategy", strategy, "--preset", "smoke", "-n", "3",
         "-w", "2", "--no-stacks", "--no-report", "--objective", "tests.fixtures.objectives:quadratic",
         "-o", str(tmp_path), "--name", "u"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    trials = [json.loads(line) for line in (tmp_path / "u" / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == 3 and all(t["state"] == "complete" for t in trials)
    for t in trials:
        assert t["value"] == pytest.approx((t["params"]["x"] - 1.0) ** 2)
    meta = json.loads((tmp_path / "u" / "run.json").read_text())
    assert meta["config"]["objective"] == "tests.fixtures.objectives:quadratic"
