"""`kill -9` of `bench` at a random moment of a strategy's run: within 5 s no process of that run
is alive (child, workers, loky's resource tracker, a local Ray), and `bench report` reads what was
recorded. Nothing in bench gets to clean up after SIGKILL: each process must die with its parent."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.run.reaper import reap_zombies
from bench.strategies import names
from tests.support.processes import descendants, running
from tests.support.runs import REPO, TINY

pytestmark = pytest.mark.slow
DEAD_WITHIN_S = 5.0


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        # The JSONL appender writes compact JSON: compare without the spaces a writer may add.
        if path.exists() and text in path.read_text(errors="replace").replace('": "', '":"'):
            return
        if proc.poll() is not None:
            raise AssertionError(f"bench ended ({proc.returncode}) before {text!r}: {path.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in {path} after {timeout} s")


STRATEGIES = [pytest.param(n, marks=pytest.mark.ray) if n == "ray" else n for n in names()]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sigkill_of_bench_leaves_no_process_and_readable_results(tmp_path: Path, strategy: str) -> None:
    _kill_9_and_check(tmp_path, strategy, [])


def test_a_killed_define_by_run_search_leaves_nothing_behind(tmp_path: Path) -> None:
    """The user's define-by-run objective: its workers call the parent's trial server, whose
    socket must not outlive the run either (joblib-loky: its timeout markers too)."""
    _kill_9_and_check(
        tmp_path, "joblib-loky", ["--objective", "tests.fixtures.objectives:define_by_run_nap"],
        while_trials_run=True,
    )


def _kill_9_and_check(
    tmp_path: Path, strategy: str, extra: list[str], while_trials_run: bool = False,
) -> None:
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    delay = rng.uniform(0.0, 2.0)
    # Half the time during start-up, half once trials run; Ray always once its instance is up
    # (the processes it starts are the point there).
    after_a_trial = while_trials_run or strategy == "ray" or rng.random() < 0.5
    out, err = tmp_path / "out", tmp_path / "stderr.txt"
    before = set(descendants())
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    # Nothing may be left outside `--out` either: the run's temporary files go where it can see
    # them. Not for Ray, whose session dir (its sockets among them) is Ray's to keep, under /tmp.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    if strategy != "ray":
        env["TMPDIR"] = str(scratch)
    with err.open("wb") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench", "compare", "--strategies", strategy, *TINY,
             "-n", "8", "-g", "20", *extra, "-o", str(out), "--name", "r", "--no-report"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err_fh, start_new_session=True,
        )
    try:
        # The sequential baseline runs first; the moment is picked inside the strategy's own run.
        _wait_for(err, f"[{strategy}] started", proc, timeout=180)
        if after_a_trial:
            _wait_for(out / "r" / "trials.jsonl", f'"run":"{strategy}"', proc, timeout=180)
        time.sleep(delay)
        family = [p for key, p in descendants().items() if key not in before]
        proc.kill()
        proc.wait()
        deadline = time.time() + DEAD_WITHIN_S
        while time.time() < deadline:
            reap_zombies()
            left = [p for key, p in descendants().items() if key not in before and running(p)]
            if not left:
                break
            time.sleep(0.1)
        described = []
        for p in left:
            with contextlib.suppress(psutil.Error):
                described.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
        assert not left, (
            f"alive {DEAD_WITHIN_S:g} s after kill -9 {delay:.2f} s after the "
            f"{'first trial' if after_a_trial else 'start'} (seed {seed}, "
            f"{len(family)} processes then): {described}"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in descendants().values():
            with contextlib.suppress(psutil.Error):
                if p.pid not in {k[0] for k in before}:
                    p.send_signal(signal.SIGKILL)
        reap_zombies()
    report = subprocess.run(
        [sys.executable, "-m", "bench", "report", str(out / "r")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert report.returncode == 0, report.stderr
    assert (out / "r" / "report.md").is_file()
    left_in_tmp = sorted(p.name for p in scratch.iterdir())
    assert not left_in_tmp, f"left in $TMPDIR after kill -9 (seed {seed}): {left_in_tmp}"


def test_a_py_spy_dump_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """py-spy is not ours to change, and a `kill -9` of the prober lets nothing time the dump out:
    a py-spy that never returns (a stand-in that sleeps) must die with the process that ran it."""
    pidfile = tmp_path / "py-spy.pid"
    fake = tmp_path / "py-spy"
    fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 600\n")
    fake.chmod(0o755)
    prober = subprocess.Popen(
        [sys.executable, "-c", "from probes.pyspy import dump; "
         f"dump(1, py_spy={str(fake)!r}, timeout=600)"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.time() + 60
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.time() < deadline:
            assert prober.poll() is None, "the prober ended before py-spy started"
            time.sleep(0.05)
        spy = psutil.Process(int(pidfile.read_text()))
        prober.kill()
        prober.wait()
        # Re-parented to this test session (a subreaper, conftest) or init: either reaps it.
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            spy.wait(timeout=DEAD_WITHIN_S)
        assert not running(spy), f"py-spy {spy.pid} outlived its prober"
    finally:
        if prober.poll() is None:
            prober.kill()
            prober.wait()
        with contextlib.suppress(psutil.Error, ValueError, OSError):
            psutil.Process(int(pidfile.read_text())).kill()
