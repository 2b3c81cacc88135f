"""The promises every registered strategy keeps, checked the same way for each (ids = names).

Each runs the same tiny search through the real CLI (`python -m bench run`), in its own child
process, watched by the probes: N trials complete; their values are what `execute` gives for the
same params in this process; the trials ran where the strategy says (one process and its threads,
or W worker processes); and with the `auto` thread policy each trial ran with cores // W threads.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.config import Config
from bench.records.rundir import load_meta
from bench.strategies import get, names
from bench.trial.execute import COMPLETE, TrialSpec, execute
from bench.workload.objective import objective_from_config

N_TRIALS = 4
WORKERS = 2

STRATEGIES = [
    pytest.param(name, marks=[pytest.mark.ray] if name == "ray" else [], id=name)
    for name in names()
]


def _expected_value(config: dict[str, Any], params: dict[str, Any]) -> float | None:
    objective = objective_from_config(Config.from_dict(config))
    record = execute(TrialSpec(number=0, params=params, objective=objective, run="expected"))
    return record.value


@pytest.mark.slow
@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_contract(name: str, bench_run: Any, request: pytest.FixtureRequest) -> None:
    args: list[str] = []
    if name == "ray":
        args += ["--ray-address", request.getfixturevalue("ray_address")]
    result = bench_run(name, *args)
    assert result.code == 0, result.stderr[-2000:]
    assert result.run.get("status") == "ok", result.run

    # N trials, all complete, each recorded once.
    assert sorted(result.by_number()) == list(range(N_TRIALS)), result.trials
    assert all(t["state"] == COMPLETE for t in result.trials), result.trials
    # Each trial's storage calls (ask, suggest, tell) were timed, where the strategy makes them.
    assert all(t["storage_s"] is not None and t["storage_s"] > 0 for t in result.trials), result.trials
    assert result.run["storage"] == ("journal file" if name == "optuna-journal" else "in-memory")
    assert result.run["storage_callers"] == (WORKERS if get(name).storage_in_workers else 1)

    meta = load_meta(result.path)
    cores = int(meta["machine"]["usable_cores"])
    cls = get(name)
    runner_pid = result.run["pid"]

    # What each trial actually ran with: auto = cores // W intra-op threads (the sequential
    # baseline too, so that speedups compare trials run with the same threads).
    assert {t["torch_threads"] for t in result.trials} == {max(1, cores // WORKERS)}

    if name == "islands":
        # A different algorithm (population split over islands): its own checks.
        for t in result.trials:
            assert math.isfinite(t["value"])
            assert len(set(t["pids"])) == WORKERS and runner_pid not in t["pids"]
        return

    # Same params, same value as one trial run right here.
    for t in result.trials:
        assert t["value"] == pytest.approx(_expected_value(meta["config"], t["params"]), rel=1e-6)

    pids = {t["pid"] for t in result.trials}
    if cls.kind in ("inline", "threads"):
        assert pids == {runner_pid}, "trials must run inside the strategy's own process"
    else:
        assert runner_pid not in pids
        assert len(pids) >= WORKERS, f"{name} ran its trials on {sorted(pids)} only"
        if name != "ray":  # Ray may lease a fresh worker for a task; the others keep exactly W
            assert len(pids) == WORKERS


def test_every_strategy_describes_itself() -> None:
    for name in names():
        cls = get(name)
        assert cls.name == name
        assert cls.kind in ("inline", "threads", "processes", "ray")
        assert cls.summary
        assert cls.available().ok in (True, False)
    assert get("optuna-threads").can_stop_trial is False
    assert not get("optuna-threads").needs_search_space
    assert not get("optuna-journal").needs_search_space
    assert get("pool").uses_start_method and get("islands").uses_start_method


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in names() if get(n).uses_start_method])
def test_process_strategies_under_spawn(name: str, bench_run: Any) -> None:
    """Workers started by spawn (a fresh interpreter: thread env set before it starts)."""
    label = f"{name}/spawn"
    result = bench_run(label)
    assert result.run.get("status") == "ok", (result.run, result.stderr[-2000:])
    assert result.run["start_method"] == "spawn"
    assert [t["state"] for t in result.trials] == [COMPLETE] * N_TRIALS
    cores = int(load_meta(result.path)["machine"]["usable_cores"])
    assert {t["torch_threads"] for t in result.trials} == {max(1, cores // WORKERS)}


@pytest.mark.slow
@pytest.mark.ray
def test_ray_starts_and_stops_its_own_instance(bench_run: Any) -> None:
    """Without --ray-address: a local Ray of W CPUs for this run only (conftest checks that none
    of its processes is left)."""
    result = bench_run("ray", timeout=240)
    assert result.run.get("status") == "ok", (result.run, result.stderr[-2000:])
    assert [t["state"] for t in result.trials] == [COMPLETE] * N_TRIALS
