"""Shared fixtures: a local Ray head and a PostgreSQL server for the whole session, a check that no
test leaves a process behind, and a helper that runs one strategy through the real CLI
(`python -m bench run`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, settings

from bench.run.reaper import become_subreaper, reap_zombies
from tests.support.processes import (
    LEFTOVER_WAIT_S,
    descendants,
    exempt,
    exempt_roots,
    free_port,
    stop_tree,
)
from tests.support.runs import RunResult, run_bench

# Fuzz budgets (tests/integration/test_fuzz_*.py): "ci" keeps the suite's time, "fuzz" is a long
# local run (HYPOTHESIS_PROFILE=fuzz). Examples run the real CLI in-process and are not timed (a
# loaded machine must not fail them); each test bounds one example itself. No example database:
# nothing is written into the checkout.
settings.register_profile(
    "ci", max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=int(os.environ.get("COREBENCH_FUZZ_EXAMPLES", "1000")), deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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

@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Fail a test that leaves alive any process it started (after a short grace to exit)."""
    before = set(descendants())
    yield
    deadline = time.time() + LEFTOVER_WAIT_S
    while True:
        reap_zombies()
        left = [p for key, p in descendants().items() if key not in before and not exempt(p)]
        if not left or time.time() > deadline:
            break
        time.sleep(0.1)
    if left:
        described = []
        for p in left:
            with contextlib.suppress(psutil.Error):
                described.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
                p.kill()
        reap_zombies()
        pytest.fail("processes left alive by the test: " + "; ".join(described))


# -- Ray -----------------------------------------------------------------------------------------


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
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live there
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    # `ray start` with token authentication needs a token: a fresh machine has none, and without
    # this every Ray test would be skipped rather than run.
    subprocess.run([ray_cli, "get-auth-token", "--generate"], env=env, capture_output=True, timeout=60)
    before = set(descendants())
    proc = subprocess.run(
        [ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={temp_dir}"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    # The head's daemons (and the workers they start) are ours now (subreaper), by design.
    head = [p for key, p in descendants().items() if key not in before]
    exempt_roots.update(p.pid for p in head)
    try:
        if proc.returncode != 0:
            pytest.skip(f"cannot start a local Ray head: {proc.stderr.strip()[-300:]}")
        yield f"127.0.0.1:{port}"
    finally:
        stop_tree(head)
        exempt_roots.difference_update(p.pid for p in head)
        shutil.rmtree(temp_dir, ignore_errors=True)


# -- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg() -> Iterator[Any]:
    """One PostgreSQL server for the whole session (tests that stop it make their own)."""
    from tests.support.postgres import postgres_server

    with postgres_server() as server:
        yield server


# -- running one strategy through the CLI --------------------------------------------------------


@pytest.fixture
def bench_run(tmp_path: Path) -> Any:
    def run(strategy: str, *args: str, timeout: float = 120) -> RunResult:
        return run_bench(tmp_path, strategy, *args, timeout=timeout)

    return run
