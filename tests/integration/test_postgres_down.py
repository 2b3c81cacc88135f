"""The PostgreSQL server goes away in the middle of an optuna-journal run (issue 17): the workers'
failures are recorded, the run ends with one clear line and exit code 1, the trials finished
before are kept, nothing hangs, nothing is left running, and the password is nowhere.

The test has a server of its own (it is stopped for good), not the session's `pg`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import assert_no_password, postgres_bins, postgres_server
from tests.support.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
# The run must end on its own this long after the server stopped (a worker's reconnect attempt
# is refused at once; a replacement worker that cannot load the study dies at start).
ENDS_WITHIN_S = 90
TRIALS_BEFORE_STOP = 2


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_server_stopped_mid_run_ends_the_run_cleanly(tmp_path: Path) -> None:
    with postgres_server() as pg:
        out = tmp_path / "out"
        argv = [sys.executable, "-m", "bench", "run", "--strategy", "optuna-journal", "--preset",
                "smoke", "-n", "400", "-w", "2", "--sampler", "random", "--no-stacks", "--no-report",
                "--objective", "tests.fixtures.objectives:nap", "--storage", pg.url,
                "-o", str(out), "--name", "down"]
        inside = tmp_path / "in-trial"
        inside.mkdir()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
               "COREBENCH_INTRIAL_DIR": str(inside)}
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        trials = out / "down" / "trials.jsonl"
        try:
            deadline = time.monotonic() + 120
            # Stop it while both workers sleep inside a trial (objective `nap`).
            while len(_records(trials)) < TRIALS_BEFORE_STOP or len(list(inside.iterdir())) < 2:
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "no trials finished on a running server"
                time.sleep(0.1)
            pg.stop("immediate")
            stopped = time.monotonic()
            stdout, stderr = proc.communicate(timeout=ENDS_WITHIN_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        print(f"run ended {time.monotonic() - stopped:.1f} s after the server stopped")

        assert proc.returncode == 1, stderr[-3000:]
        (run,) = [r for r in _records(out / "down" / "runs.jsonl") if r.get("status") != "running"]
        assert run["status"] == "failed"
        reason = run["reason"]
        assert "\n" not in reason and "optuna-journal workers" in reason
        assert "OperationalError" in reason or "connection" in reason.lower(), reason
        # One line on stderr says it, as for every failed run.
        lines = [line for line in stderr.splitlines() if line.startswith("bench: run optuna-journal failed")]
        assert len(lines) == 1, stderr[-3000:]

        records = _records(trials)
        complete = [r for r in records if r["state"] == "complete"]
        assert len(complete) >= TRIALS_BEFORE_STOP  # finished trials are kept
        assert len({r["number"] for r in records}) == len(records)
        # A trial a worker was in when the server went away: recorded, with why.
        lost = [r for r in records if r["state"] != "complete"]
        assert len(lost) == 2, f"the trials in flight when the server stopped: {lost}"
        for r in lost:  # cancelled: the run ended (the other worker's failures) before it did
            assert r["state"] in ("crashed", "failed", "cancelled") and r["error"]
        assert any(r["state"] == "crashed" and "OperationalError" in r["error"] for r in lost), lost
        assert_no_password(pg.password, tmp_path, stdout, stderr)
        print(f"reason: {reason}\nlost: {[(r['state'], r['error']) for r in lost]}")


@pytest.mark.parametrize("shared", [False, True], ids=["own-study", "shared-study"])
def test_a_server_that_is_down_at_start_is_one_line_without_the_password(
    tmp_path: Path, shared: bool,
) -> None:
    postgres_bins()  # the driver must be there (in CI: a failure when it is not)
    password = "hunter2-" + "x" * 8
    url = f"postgresql://corebench:{password}@127.0.0.1:{free_port()}/corebench"  # nobody listens
    argv = [sys.executable, "-m", "bench", "run", "--strategy", "optuna-journal", "--preset", "smoke",
            "-n", "4", "-w", "2", "--no-stacks", "--no-report", "--objective",
            "tests.fixtures.objectives:noop", "--storage", url, "-o", str(tmp_path), "--name", "r"]
    if shared:
        argv += ["--study-name", "s"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("bench: run optuna-journal failed")]
    assert "Connection refused" in line and "postgresql://corebench:***@127.0.0.1" in line
    (run,) = _records(tmp_path / "r" / "runs.jsonl")[-1:]
    assert run["status"] == "failed" and "\n" not in run["reason"]
    assert_no_password(password, tmp_path, proc.stdout, proc.stderr)
