"""No module shadowing: a file in the working directory named like a library we import
(threadpoolctl.py) is never imported by a run's child or its workers; a user objective's
module in the working directory is still found (after site-packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.runs import REPO, TINY

pytestmark = pytest.mark.slow

SHADOW = '''
import os, pathlib
pathlib.Path(os.environ["SHADOW_MARKER"]).write_text(str(os.getpid()))
raise ImportError("the threadpoolctl.py of the working directory was imported")
'''
OBJECTIVE = '''
from optuna.distributions import FloatDistribution

def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    return x * x

objective.search_space = {"x": FloatDistribution(-1.0, 1.0)}
'''


@pytest.mark.parametrize(("strategy", "objective"), [
    ("sequential", False), ("pool", False), ("joblib-loky", False), ("pool", True),
])
def test_a_shadowing_module_in_the_working_directory_is_not_imported(
    tmp_path: Path, strategy: str, objective: bool
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "threadpoolctl.py").write_text(SHADOW)
    marker = tmp_path / "shadow-was-imported"
    extra = []
    if objective:
        (work / "my_objective.py").write_text(OBJECTIVE)
        extra = ["--objective", "my_objective:objective"]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "SHADOW_MARKER": str(marker)}
    # -P: as the `bench` console script, which does not put the working directory on sys.path.
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "bench", "run", "--strategy", strategy, *TINY, *extra,
         "-o", str(out), "--name", "r", "--no-report"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )
    assert not marker.exists(), f"imported by pid {marker.read_text()}: {proc.stderr[-2000:]}"
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = [json.loads(line) for line in (out / "r" / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in runs if r["run"] == strategy] == ["ok"]
