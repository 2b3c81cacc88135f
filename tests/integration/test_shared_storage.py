"""Two independent `bench run --strategy optuna-journal` processes share one study through
`--storage` + `--study-name` and together run exactly --trials trials (issue 9: "two processes
share an SQLite-backed study and run exactly N trials"; issue 17: the same on a real PostgreSQL
server, also under `bench compare`, with the database password never written or printed;
runbooks/multi-machine.md).

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
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest

from bench.strategies._study import open_storage
from bench.strategies.optuna_journal import ATTR_OVER_BUDGET, ATTR_OWNER, ATTR_WORKER
from tests.support.postgres import assert_no_password

ROOT = Path(__file__).resolve().parents[2]
OBJECTIVE = "tests.scripts.shared_study_objective:objective"
N = 8
STUDY = "shared"
RUN_TIMEOUT_S = 240


def _bench_run(storage: str, out: Path, name: str, *extra: str, study: str = STUDY) -> list[str]:
    return [
        sys.executable, "-m", "bench", "run", "--strategy", "optuna-journal", "--preset", "smoke",
        "-n", str(N), "-w", "1", "--sampler", "random", "--no-stacks", "--no-report",
        "--objective", OBJECTIVE, "--storage", storage, "--study-name", study,
        "-o", str(out), "--name", name, *extra,
    ]


def _bench_compare(storage: str, out: Path, name: str, study: str) -> list[str]:
    """`bench compare` of optuna-journal (its sequential baseline comes first, in a study of its
    own in the same storage), with the report written: every file a person might share."""
    return [
        sys.executable, "-m", "bench", "compare", "--strategies", "optuna-journal", "--preset",
        "smoke", "-n", str(N), "-w", "1", "--sampler", "random", "--no-stacks",
        "--objective", OBJECTIVE, "--storage", storage, "--study-name", study,
        "-o", str(out), "--name", name,
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


def _storage(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if kind == "postgres":
        return str(request.getfixturevalue("pg").url)
    return str(tmp_path / "study.journal")


KINDS = ["sqlite", "journal", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_two_processes_share_one_study_and_run_exactly_n(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest,
) -> None:
    storage = _storage(kind, tmp_path, request)
    study_name = f"{STUDY}-{uuid.uuid4().hex[:8]}"  # the server outlives this test
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "COREBENCH_BARRIER_DIR": str(barrier), "COREBENCH_BARRIER_PARTIES": "2",
           "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    procs = [_start(_bench_run(storage, tmp_path / name, name, study=study_name), env)
             for name in ("a", "b")]
    outputs = [_finish(proc) for proc in procs]
    wall = time.monotonic() - started
    _check_shared_study(storage, study_name, tmp_path / "a" / "a", tmp_path / "b" / "b")
    if kind == "postgres":
        assert_no_password(request.getfixturevalue("pg").password, tmp_path, *outputs)
    print(f"{kind}: 2 processes, {N} trials, {wall:.1f} s")


@pytest.mark.slow
@pytest.mark.postgres
def test_two_compares_share_one_postgres_study(tmp_path: Path, pg: Any) -> None:
    study_name = f"{STUDY}-{uuid.uuid4().hex[:8]}"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "COREBENCH_BARRIER_DIR": str(barrier), "COREBENCH_BARRIER_PARTIES": "2",
           "COREBENCH_BARRIER_STUDY": study_name, "PYTHONUNBUFFERED": "1"}
    procs = [_start(_bench_compare(pg.url, tmp_path / name, name, study_name), env)
             for name in ("a", "b")]
    outputs = [_finish(proc) for proc in procs]
    _check_shared_study(pg.url, study_name, tmp_path / "a" / "a", tmp_path / "b" / "b",
                        label="optuna-journal")
    for name in ("a", "b"):
        report = (tmp_path / name / name / "report.md").read_text()
        assert "postgresql" in report  # the storage backend row of the report
    assert_no_password(pg.password, tmp_path, *outputs)


def _check_shared_study(storage: str, study_name: str, a_dir: Path, b_dir: Path,
                        label: str | None = None) -> None:
    """Exactly N COMPLETE trials 0..N-1, numbers unique, both processes contributed, and each
    process recorded only its own workers' trials."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
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
    a = [r for r in _records(a_dir) if label is None or r["run"] == label]
    b = [r for r in _records(b_dir) if label is None or r["run"] == label]
    assert a and b, "each process should have run at least one trial"
    assert all(r["state"] == "complete" for r in a + b)
    assert sorted(r["number"] for r in a + b) == list(range(N))
    assert not {r["pid"] for r in a} & {r["pid"] for r in b}
    by_number = {t.number: t for t in complete}
    for r in a + b:
        assert by_number[r["number"]].user_attrs[ATTR_WORKER] == r["worker"]
        assert by_number[r["number"]].value == pytest.approx(r["value"])
        # The worker timed its storage calls for this trial: ask, suggest, user attrs, tell.
        assert r["storage_s"] is not None and r["storage_s"] > 0
    runs = [json.loads(line) for d in (a_dir, b_dir)
            for line in (d / "runs.jsonl").read_text().splitlines() if line]
    runs = [r for r in runs if label is None or r["run"] == label]
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert sum(r["trials_told"] for r in runs) == N


@pytest.mark.slow
def test_a_process_joining_a_spent_study_runs_nothing(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
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

