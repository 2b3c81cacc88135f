"""The reference GA: deterministic, elitist, and the two evaluation styles agree."""

from __future__ import annotations

import multiprocessing

import optuna
import pytest
import torch

from bench.workload.ga import (
    GAParams,
    GASettings,
    GeneticAlgorithm,
    evaluate_batched,
    evaluate_loop,
    genome_size,
    run_ga,
)
from bench.workload.objective import GAObjective, ObjectiveRef
from bench.workload.space import search_space, suggest
from bench.workload.task import regression_task

SMALL = GASettings(population=16, generations=4, hidden=8, mode="loop")
PARAMS = GAParams(mutation_rate=0.2, mutation_sigma=0.3, crossover_rate=0.8, tournament_size=3, elite_frac=0.1)


def _value_in_child(args: tuple[GAParams, GASettings, int]) -> float:
    return run_ga(*args)


def test_same_params_and_seed_give_the_same_value() -> None:
    assert run_ga(PARAMS, SMALL, seed=3) == run_ga(PARAMS, SMALL, seed=3)


def test_different_seeds_differ() -> None:
    assert run_ga(PARAMS, SMALL, seed=1) != run_ga(PARAMS, SMALL, seed=2)


def test_value_is_the_same_in_a_spawned_process_with_other_thread_settings() -> None:
    here = run_ga(PARAMS, SMALL, seed=5)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        there = pool.map(_value_in_child, [(PARAMS, SMALL, 5)])[0]
    assert there == here


@pytest.mark.parametrize("mode", ["loop", "batched"])
def test_elitism_never_loses_the_best(mode: str) -> None:
    ga = GeneticAlgorithm(PARAMS, GASettings(population=16, generations=1, hidden=8, mode=mode), seed=0)
    best = [ga.best()]
    for _ in range(6):
        ga.step()
        best.append(ga.best())
    assert best == sorted(best)
    assert ga.evaluations == 16 + 6 * (16 - 2)  # elites are not re-evaluated


def test_loop_and_batched_evaluate_the_same_fitness() -> None:
    pop = torch.randn(12, genome_size(8), generator=torch.Generator().manual_seed(0))
    task = regression_task()
    torch.testing.assert_close(evaluate_loop(pop, task, 8), evaluate_batched(pop, task, 8), rtol=1e-4, atol=1e-5)


def test_migration_replaces_the_worst() -> None:
    a = GeneticAlgorithm(PARAMS, SMALL, seed=0)
    b = GeneticAlgorithm(PARAMS, SMALL, seed=1)
    incoming = a.emigrants(2)
    worst_before = float(b.fitness.min())
    b.immigrate(incoming)
    assert float(b.fitness.min()) >= worst_before
    assert any(torch.equal(row, incoming[0]) for row in b.pop)


def test_objective_is_define_by_run_over_the_declared_space() -> None:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(GAObjective(SMALL, seeds=1), n_trials=2)
    assert set(study.best_params) == set(search_space())
    fixed = optuna.trial.FixedTrial(study.best_params)
    assert GAObjective(SMALL, seeds=1)(fixed) == study.best_value
    assert suggest(fixed).tournament_size == study.best_params["tournament_size"]


def test_evaluations_per_trial() -> None:
    ref = ObjectiveRef(settings=SMALL, seeds=2)
    assert ref.evaluations_per_trial == 16 * 5 * 2
