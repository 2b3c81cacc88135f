"""`--objective` runs the user's own Optuna objective instead of the GA: its values are its own,
what it does wrong is a failed trial with its reason (the run goes on, nothing hangs, nothing is
left behind), and `path/to/file.py:function` works whatever starts the workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bench.trial.execute import COMPLETE, FAILED, TIMEOUT
from tests.fixtures.objectives import MISBEHAVIOUR

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
    runs = [json.loads(line) for line in (tmp_path / "u" / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["params_path"] == "declared"  # it declares a search_space: the fast path


# What each misbehaving trial's record must say (tests/fixtures/objectives.py:misbehaves).
REASONS = {
    1: "ValueError: injected failure", 2: "returned None", 3: "returned NaN",
    4: "returned a str", 5: "tuple of 2 values", 6: "sys.exit(3)", 7: "KeyboardInterrupt",
    8: "_NotAnException: not an Exception",
}
MISBEHAVING = [
    pytest.param(name, marks=[pytest.mark.ray] if name == "ray" else [], id=name)
    for name in ("sequential", "optuna-threads", "pool", "joblib-loky", "ray", "optuna-journal")
]


@pytest.mark.slow
@pytest.mark.parametrize("name", MISBEHAVING)
def test_what_the_objective_does_wrong_is_a_failed_trial(
    name: str, bench_run: Any, request: pytest.FixtureRequest,
) -> None:
    """One define-by-run run per strategy, each trial misbehaving its own way: raises, returns
    None / NaN / a string / a tuple, sys.exit, KeyboardInterrupt, another BaseException, prints
    megabytes, hangs past --trial-timeout; every other trial completes and the run ends ok."""
    # optuna-threads cannot stop a hung thread (its own test covers that): no hanging trial.
    n = 10 if name == "optuna-threads" else 12
    args = ["--objective", "tests.fixtures.objectives:misbehaves", "-n", str(n),
            "--trial-timeout", "4"]
    if name == "ray":
        args += ["--ray-address", request.getfixturevalue("ray_address")]
    result = bench_run(name, *args, timeout=240)
    assert result.code == 0 and result.run.get("status") == "ok", (result.run, result.stderr[-2000:])
    assert result.run["params_path"] == "define-by-run"
    got = result.by_number()
    assert sorted(got) == list(range(n)), result.states()
    for number in range(n):
        t = got[number]
        if number in REASONS:
            assert t["state"] == FAILED, (MISBEHAVIOUR[number], t)
            assert REASONS[number] in t["error"], (MISBEHAVIOUR[number], t["error"])
        elif MISBEHAVIOUR.get(number) == "hangs":
            assert t["state"] == TIMEOUT, t
        else:  # fine, or printed megabytes and then returned
            assert t["state"] == COMPLETE, (MISBEHAVIOUR.get(number), t)
        # Conditional params as the parent's study gave them.
        assert set(t["params"]) in ({"kind", "x"}, {"kind", "k"}), t["params"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sequential", "optuna-threads"])
def test_sys_exit_and_keyboard_interrupt_in_the_objective_do_not_end_the_run(
    name: str, bench_run: Any,
) -> None:
    """In the run's own process too: sys.exit(3) and KeyboardInterrupt in trials 6 and 7 are
    failed trials, and the trials after them run."""
    result = bench_run(name, "--objective", "tests.fixtures.objectives:misbehaves", "-n", "10")
    assert result.code == 0 and result.run.get("status") == "ok", (result.run, result.stderr[-2000:])
    states = result.states()
    assert states[6] == FAILED and states[7] == FAILED and states[9] == COMPLETE, states


_OBJECTIVE_FILE = """
from helper import penalty  # a sibling module: the file's folder must be importable

def objective(trial):
    kind = trial.suggest_categorical("kind", ["a", "b"])
    x = trial.suggest_float("x", -2.0, 2.0)
    return x * x + penalty(kind)
"""


@pytest.mark.slow
@pytest.mark.parametrize("label", ["pool/spawn", "pool/forkserver", "optuna-journal/spawn"])
def test_objective_given_as_a_file_path(tmp_path: Path, label: str) -> None:
    """`--objective some/dir/file.py:fn`, relative to where bench runs, with workers that start
    from a fresh interpreter (spawn, forkserver) and import nothing of the parent's."""
    folder = tmp_path / "some" / "dir"
    folder.mkdir(parents=True)
    (folder / "my_objective.py").write_text(textwrap.dedent(_OBJECTIVE_FILE))
    (folder / "helper.py").write_text("def penalty(kind):\n    return 0.0 if kind == 'a' else 1.0\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--strategy", label, "-n", "4", "-w", "2",
         "--no-stacks", "--no-report", "--objective", "some/dir/my_objective.py:objective",
         "-o", str(tmp_path / "out"), "--name", "u"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rd = tmp_path / "out" / "u"
    runs = [json.loads(line) for line in (rd / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["status"] == "ok" and runs[-1]["start_method"] == label.split("/")[1], runs
    trials = [json.loads(line) for line in (rd / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == 4 and all(t["state"] == COMPLETE for t in trials), trials
    for t in trials:
        p = t["params"]
        assert t["value"] == pytest.approx(p["x"] ** 2 + (0.0 if p["kind"] == "a" else 1.0))
    assert len({t["pid"] for t in trials}) == 2 and runs[-1]["pid"] not in {t["pid"] for t in trials}
