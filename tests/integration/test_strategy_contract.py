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
from bench.records.kinds import Kind
from bench.records.rundir import load_meta
from bench.strategies import get, names
from bench.trial.execute import COMPLETE, TrialSpec, execute
from bench.workload.objective import objective_from_config

N_TRIALS = 4
WORKERS = 2

STRATEGIES = [
    pytest.param(name, marks=[pytest.mark.ray] if get(name).kind == Kind.RAY else [], id=name)
    for name in names()
]
# Strategies that run any objective's trials, and those that are the reference GA itself.
TRIAL_STRATEGIES = [p for p in STRATEGIES if not get(str(p.values[0])).ga_only]
GA_ONLY = [p for p in STRATEGIES if get(str(p.values[0])).ga_only]
# Where a strategy keeps its study when no --storage is given.
OWN_STORAGE = {"optuna-journal": "journal file"}
# Strategies whose workers sample for themselves on the shared storage (--sampler-seed + 1 + slot).
OWN_SAMPLER_SEED = {"optuna-journal": 1}


def _cluster(name: str, request: pytest.FixtureRequest) -> list[str]:
    """Ray strategies join the session's Ray head (starting one per test would take minutes)."""
    return ["--ray-address", request.getfixturevalue("ray_address")] if get(name).kind == Kind.RAY else []


def _expected_value(config: dict[str, Any], params: dict[str, Any]) -> float | None:
    objective = objective_from_config(Config.from_dict(config))
    record = execute(TrialSpec(number=0, params=params, objective=objective, run="expected"))
    return record.value


@pytest.mark.slow
@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_contract(name: str, bench_run: Any, request: pytest.FixtureRequest) -> None:
    result = bench_run(name, *_cluster(name, request))
    assert result.code == 0, result.stderr[-2000:]
    assert result.run.get("status") == "ok", result.run

    # N trials, all complete, each recorded once.
    assert sorted(result.by_number()) == list(range(N_TRIALS)), result.trials
    assert all(t["state"] == COMPLETE for t in result.trials), result.trials
    # Each trial's storage calls (ask, suggest, tell) were timed, where the strategy makes them.
    assert all(t["storage_s"] is not None and t["storage_s"] > 0 for t in result.trials), result.trials
    assert result.run["storage"] == OWN_STORAGE.get(name, "in-memory")
    assert result.run["storage_callers"] == (WORKERS if get(name).storage_in_workers else 1)

    meta = load_meta(result.path)
    cores = int(meta["machine"]["usable_cores"])
    cls = get(name)

    # What each trial actually ran with: auto = cores // W intra-op threads (the sequential
    # baseline too, so that speedups compare trials run with the same threads).
    assert {t["torch_threads"] for t in result.trials} == {max(1, cores // WORKERS)}

    # Where and how trials ran: the GA split over islands is one trial over every worker.
    (_islands_ran if cls.ga_only else _trials_ran)(result, meta, cls)


def _islands_ran(result: Any, meta: dict[str, Any], cls: Any) -> None:
    """A different algorithm (the population split over islands): each trial ran on all W."""
    for t in result.trials:
        assert math.isfinite(t["value"])
        assert len(set(t["pids"])) == WORKERS and result.run["pid"] not in t["pids"]


def _trials_ran(result: Any, meta: dict[str, Any], cls: Any) -> None:
    """Same params, same value as one trial run right here; trials where the kind says."""
    for t in result.trials:
        assert t["value"] == pytest.approx(_expected_value(meta["config"], t["params"]), rel=1e-6)
    runner_pid = result.run["pid"]
    pids = {t["pid"] for t in result.trials}
    if cls.kind in (Kind.INLINE, Kind.THREADS):
        assert pids == {runner_pid}, "trials must run inside the strategy's own process"
    else:
        assert runner_pid not in pids
        assert len(pids) >= WORKERS, f"{cls.name} ran its trials on {sorted(pids)} only"
        if cls.kind != Kind.RAY:  # Ray may lease a fresh worker for a task; the others keep W
            assert len(pids) == WORKERS


def test_every_strategy_describes_itself() -> None:
    for name in names():
        cls = get(name)
        assert cls.name == name
        assert cls.kind in (Kind.INLINE, Kind.THREADS, Kind.PROCESSES, Kind.RAY)
        assert cls.summary
        assert cls.available().ok in (True, False)
    assert get("optuna-threads").can_stop_trial is False
    assert get("optuna-threads").real_trials and get("optuna-journal").real_trials
    assert [n for n in names() if get(n).ga_only] == ["islands"]
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


# -- define-by-run: the user's own objective, conditional space and pruning ---------------------

DBR_TRIALS = 24
DBR = "tests.fixtures.objectives:conditional"


@pytest.mark.slow
@pytest.mark.parametrize("name", GA_ONLY)
def test_a_ga_only_strategy_refuses_a_user_objective(name: str, bench_run: Any) -> None:
    result = bench_run(name, "--objective", DBR, "-n", "2")
    assert result.run.get("status") == "unavailable", result.run
    assert "the reference GA itself" in result.run["reason"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TRIAL_STRATEGIES)
def test_define_by_run_contract(name: str, bench_run: Any, request: pytest.FixtureRequest) -> None:
    """Every strategy runs a define-by-run objective with a conditional space that prunes, and
    the parent's study (TPE, median pruner) decides every parameter and every prune."""
    import optuna

    storage = str(request.getfixturevalue("tmp_path") / "study.log")
    args = ["--objective", DBR, "-n", str(DBR_TRIALS), "--sampler", "tpe", "--pruner", "median",
            "--storage", storage, *_cluster(name, request)]
    result = bench_run(name, *args, timeout=240)
    assert result.code == 0 and result.run.get("status") == "ok", (result.run, result.stderr[-2000:])
    assert result.run["params_path"] == "define-by-run"
    assert (result.run["sampler"], result.run["pruner"]) == ("TPESampler", "MedianPruner")

    # Every strategy finishes the same number of trials, each complete or pruned.
    states = result.states()
    assert sorted(states) == list(range(DBR_TRIALS)), states
    assert set(states.values()) <= {"complete", "pruned"}, states
    assert "pruned" in states.values() and "complete" in states.values(), states

    # The parent's study holds every trial, with the distributions the objective asked for:
    # `momentum` only where the optimizer was sgd.
    storage_obj = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(storage))
    (summary,) = optuna.get_all_study_summaries(storage_obj)
    study = optuna.load_study(study_name=summary.study_name, storage=storage_obj)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert sorted(trials) == list(range(DBR_TRIALS))
    expected = {
        "optimizer": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
        "lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
        "momentum": optuna.distributions.FloatDistribution(0.0, 0.9),
        "layers": optuna.distributions.IntDistribution(1, 4),
    }
    for number, t in trials.items():
        want = {"optimizer", "lr", "layers"} | ({"momentum"} if t.params["optimizer"] == "sgd" else set())
        assert set(t.params) == want, t
        assert t.distributions == {k: expected[k] for k in want}
        assert t.state.name.lower() == states[number]
        assert result.by_number()[number]["params"] == t.params  # the record says the same
        if t.state == optuna.trial.TrialState.PRUNED:
            assert t.intermediate_values, "a pruned trial reported before it was pruned"


@pytest.mark.slow
@pytest.mark.parametrize("name", TRIAL_STRATEGIES)
def test_define_by_run_params_are_the_parents_tpe(
    name: str, bench_run: Any, request: pytest.FixtureRequest,
) -> None:
    """With one worker the order of suggest calls is fixed, so the parent's TPE (seeded) must
    give exactly what the same TPE gives here, in this process, trial for trial: the random
    start-up trials and the TPE trials after them, prunes included. A worker that sampled for
    itself, or a sampler that fell back to random, would give other numbers."""
    import optuna

    from tests.fixtures.objectives import TPE_STARTUP, conditional

    n = TPE_STARTUP + 4
    args = ["--objective", DBR, "-n", str(n), "-w", "1", "--sampler", "tpe", "--sampler-seed", "0",
            "--pruner", "median", *_cluster(name, request)]
    result = bench_run(name, *args, timeout=240)
    assert result.code == 0 and result.run.get("status") == "ok", (result.run, result.stderr[-2000:])
    seed = OWN_SAMPLER_SEED.get(name, 0)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    here = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed),
                               pruner=optuna.pruners.MedianPruner())
    here.optimize(conditional, n_trials=n)
    got = result.by_number()
    assert sorted(got) == list(range(n))
    for t in here.trials:
        assert got[t.number]["params"] == t.params, (t.number, got[t.number]["params"], t.params)
        assert got[t.number]["state"] == t.state.name.lower()


@pytest.mark.slow
def test_pruner_with_the_ga_keeps_its_declared_space(bench_run: Any) -> None:
    """--pruner applies to every strategy; the GA never prunes, and islands (which runs GA
    generations on sampled params) keeps the declared fast path instead of failing."""
    result = bench_run("islands", "--pruner", "median", "-n", "2")
    assert result.run.get("status") == "ok", (result.run, result.stderr[-2000:])
    assert result.run["params_path"] == "declared" and result.run["pruner"] == "MedianPruner"
    assert [t["state"] for t in result.trials] == [COMPLETE, COMPLETE]
