"""Two independent `bench run --strategy optuna-journal` processes share one study through
`--storage` + `--study-name` and together run exactly --trials trials (issue 9: "two processes
share an SQLite-backed study and run exactly N trials"; runbooks/multi-machine.md).

Each process stands for one machine: its own results directory, its own workers, nothing shared
but the storage. The objective (tests/scripts/shared_study_objective.py) holds each process's
first trial until both processes have one running, so "both contributed" does not hang on which
one started first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from bench.strategies._study import open_storage
from bench.strategies.optuna_journal import ATTR_OVER_BUDGET, ATTR_OWNER, ATTR_WORKER

ROOT = Path(__file__).resolve().parents[2]
OBJECTIVE = "tests.scripts.shared_study_objective:objective"
N = 8
STUDY = "shared"
RUN_TIMEOUT_S = 240


def _bench_run(storage: str, out: Path, name: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "bench", "run", "--strategy", "optuna-journal", "--preset", "smoke",
        "-n", str(N), "-w", "1", "--sampler", "random", "--no-stacks", "--no-report",
        "--objective", OBJECTIVE, "--storage", storage, "--study-name", STUDY,
        "-o", str(out), "--name", name, *extra,
    ]


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _finish(proc: subprocess.Popen[str]) -> str:
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"bench run still running after {RUN_TIMEOUT_S} s\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    return out


def _records(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "trials.jsonl"
    if not path.exists():  # created with the first trial record
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _storage(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return str(tmp_path / "study.journal")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_processes_share_one_study_and_run_exactly_n(tmp_path: Path, kind: str) -> None:
    storage = _storage(kind, tmp_path)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "COREBENCH_BARRIER_DIR": str(barrier), "COREBENCH_BARRIER_PARTIES": "2",
           "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    procs = [_start(_bench_run(storage, tmp_path / name, name), env) for name in ("a", "b")]
    for proc in procs:
        _finish(proc)
    wall = time.monotonic() - started

    study = optuna.load_study(study_name=STUDY, storage=open_storage(storage))
    trials = study.get_trials(deepcopy=False)
    in_budget = [t for t in trials if not t.user_attrs.get(ATTR_OVER_BUDGET)]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), f"trial numbers handed out twice: {sorted(numbers)}"
    assert sorted(t.number for t in complete) == list(range(N)), (
        f"want trials 0..{N - 1} COMPLETE, got {[(t.number, t.state.name) for t in trials]}")
    assert in_budget == complete
    # A worker that lost the race for the last number ran nothing and says so.
    for t in trials:
        if t not in complete:
            assert t.number >= N and t.user_attrs.get(ATTR_OVER_BUDGET) is True
            assert t.state == optuna.trial.TrialState.FAIL and ATTR_WORKER not in t.user_attrs
    owners = {t.user_attrs[ATTR_OWNER] for t in complete}
    workers = {t.user_attrs[ATTR_WORKER] for t in complete}
    assert len(owners) == 2, f"trials should come from both processes, got owners {owners}"
    assert len(workers) == 2

    # Each process recorded only the trials its own workers ran: together the study, no overlap.
    a, b = _records(tmp_path / "a" / "a"), _records(tmp_path / "b" / "b")
    assert a and b, "each process should have run at least one trial"
    assert all(r["state"] == "complete" for r in a + b)
    assert sorted(r["number"] for r in a + b) == list(range(N))
    assert not {r["pid"] for r in a} & {r["pid"] for r in b}
    by_number = {t.number: t for t in complete}
    for r in a + b:
        assert by_number[r["number"]].user_attrs[ATTR_WORKER] == r["worker"]
        assert by_number[r["number"]].value == pytest.approx(r["value"])
    runs = [json.loads(line) for d in ("a", "b")
            for line in (tmp_path / d / d / "runs.jsonl").read_text().splitlines() if line]
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert sum(r["trials_told"] for r in runs) == N
    print(f"{kind}: 2 processes, {N} trials, {len(a)} + {len(b)}, {wall:.1f} s")


@pytest.mark.slow
def test_a_process_joining_a_spent_study_runs_nothing(tmp_path: Path) -> None:
    storage = _storage("sqlite", tmp_path)
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="minimize")
    for x in range(N):
        study.add_trial(optuna.trial.create_trial(
            params={"x": float(x) / N}, distributions={"x": optuna.distributions.FloatDistribution(-3, 3)},
            value=float(x),
        ))
    _finish(_start(_bench_run(storage, tmp_path, "late"), dict(os.environ)))
    assert len(optuna.load_study(study_name=STUDY, storage=storage).trials) == N
    assert _records(tmp_path / "late") == []
    (run,) = [json.loads(line) for line in (tmp_path / "late" / "runs.jsonl").read_text().splitlines()]
    assert run["status"] == "ok" and run["trials_told"] == 0

