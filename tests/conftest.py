"""Shared fixtures: a local Ray head for the whole session, a check that no test leaves a process
behind, and a helper that runs one strategy through the real CLI (`python -m bench run`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.run.reaper import become_subreaper

REPO = Path(__file__).resolve().parent.parent
# Smallest real search: GA population 16, 3 generations, one seed, 4 trials on 2 workers.
TINY = ["--preset", "smoke", "-n", "4", "-g", "3", "-s", "1", "-p", "16", "-w", "2",
        "--sampler", "random", "--no-stacks"]
# Processes that live as long as the interpreter that started them, by design (one per process,
# not per run): multiprocessing's and loky's resource trackers, the forkserver.
INTERPRETER_HELPERS = ("resource_tracker", "forkserver")
LEFTOVER_WAIT_S = 5.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ray-address", default=None,
        help="use this running Ray cluster for ray tests instead of starting a local head",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Orphans of a killed run (its workers, a dead worker's children) are re-parented to pytest,
    # not to init, so the leftover check below sees them and nothing escapes unnoticed.
    become_subreaper()
    # Ray >= 2.59 turns token authentication on for clusters started with `ray start`; a driver
    # that joins one by address must say so (the token is in ~/.ray/auth_token). Ray reads this
    # when it is imported, so it is set before any test module can import ray.
    os.environ.setdefault("RAY_AUTH_MODE", "token")


# -- no process left behind ----------------------------------------------------------------------

_exempt_roots: set[int] = set()  # e.g. the session's Ray head: its workers outlive each test


def _descendants() -> dict[tuple[int, float], psutil.Process]:
    out = {}
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            out[(p.pid, p.create_time())] = p
    return out


def _exempt(p: psutil.Process) -> bool:
    try:
        if p.status() == psutil.STATUS_ZOMBIE:
            return True
        if any(h in " ".join(p.cmdline()) for h in INTERPRETER_HELPERS):
            return True
        return any(a.pid in _exempt_roots for a in p.parents()) or p.pid in _exempt_roots
    except psutil.Error:
        return True


def _reap_zombies() -> None:
    # As a subreaper, pytest inherits orphans; collect their exit status.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Fail a test that leaves alive any process it started (after a short grace to exit)."""
    before = set(_descendants())
    yield
    deadline = time.time() + LEFTOVER_WAIT_S
    while True:
        _reap_zombies()
        left = [p for key, p in _descendants().items() if key not in before and not _exempt(p)]
        if not left or time.time() > deadline:
            break
        time.sleep(0.1)
    if left:
        described = []
        for p in left:
            with contextlib.suppress(psutil.Error):
                described.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
                p.kill()
        _reap_zombies()
        pytest.fail("processes left alive by the test: " + "; ".join(described))


# -- Ray -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ray_address(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Ray head with 2 CPUs started once per session (`ray start`), stopped at its end.

    Stopped by ending exactly its processes, not with `ray stop --force`, which ends every Ray
    instance on the machine (another test session's, a run's own local instance)."""
    given = request.config.getoption("--ray-address")
    if given:
        yield given
        return
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not Path(ray_cli).exists():
        pytest.skip("the `ray` command is not installed")
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live there
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    before = set(_descendants())
    proc = subprocess.run(
        [ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={temp_dir}"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    # The head's daemons (and the workers they start) are ours now (subreaper), by design.
    head = [p for key, p in _descendants().items() if key not in before]
    _exempt_roots.update(p.pid for p in head)
    try:
        if proc.returncode != 0:
            pytest.skip(f"cannot start a local Ray head: {proc.stderr.strip()[-300:]}")
        yield f"127.0.0.1:{port}"
    finally:
        _stop_tree(head)
        _exempt_roots.clear()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _stop_tree(roots: list[psutil.Process], grace: float = 10.0) -> None:
    procs = list(roots)
    for root in roots:
        with contextlib.suppress(psutil.Error):
            procs += root.children(recursive=True)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    deadline = time.time() + grace
    while time.time() < deadline and any(_running(p) for p in procs):
        _reap_zombies()
        time.sleep(0.1)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if _running(p):
                p.kill()
    time.sleep(0.2)
    _reap_zombies()


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# -- running one strategy through the CLI --------------------------------------------------------


@dataclass
class RunResult:
    """What one `bench run` left: its exit code, the run record, the trial records, stderr."""

    code: int
    run: dict[str, Any]
    trials: list[dict[str, Any]]
    path: Path
    wall: float
    stderr: str

    def by_number(self) -> dict[int, dict[str, Any]]:
        return {int(t["number"]): t for t in self.trials}

    def states(self) -> dict[int, str]:
        return {n: t["state"] for n, t in sorted(self.by_number().items())}


def run_bench(tmp_path: Path, strategy: str, *args: str, timeout: float = 120) -> RunResult:
    """`python -m bench run --strategy NAME` on the tiny search, as a user would run it."""
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "run", "--strategy", strategy, *TINY, *args,
           "-o", str(out), "--name", "r", "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    started = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.time() - started
    rd = out / "r"
    runs = _jsonl(rd / "runs.jsonl")
    label = strategy
    run = next((r for r in reversed(runs) if r.get("run") == label), {})
    trials = [t for t in _jsonl(rd / "trials.jsonl") if t.get("run") == label]
    return RunResult(proc.returncode, run, trials, rd, wall, proc.stderr)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def bench_run(tmp_path: Path) -> Any:
    def run(strategy: str, *args: str, timeout: float = 120) -> RunResult:
        return run_bench(tmp_path, strategy, *args, timeout=timeout)

    return run
