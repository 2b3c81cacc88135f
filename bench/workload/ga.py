"""Neuroevolution: a population of small MLPs evolved by tournament selection, one-point crossover,
Gaussian mutation and elitism. Deterministic for the same params and seed, in any process.

Two evaluation styles share everything but fitness evaluation: `loop` evaluates one network at a
time in a Python loop (typical research code; holds the GIL between many tiny torch calls) and
`batched` evaluates the whole population with a few batched tensor ops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.workload.task import INPUTS, Task, regression_task

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class GAParams:
    """The hyperparameters a search tunes (see bench.workload.space)."""

    mutation_rate: float = 0.1
    mutation_sigma: float = 0.1
    crossover_rate: float = 0.7
    tournament_size: int = 3
    elite_frac: float = 0.05


@dataclass(frozen=True)
class GASettings:
    """The size of one GA run, fixed for a whole search."""

    population: int = 100
    generations: int = 20
    hidden: int = 16
    mode: str = "loop"


def genome_size(hidden: int) -> int:
    return INPUTS * hidden + hidden + hidden + 1


def _split(theta: torch.Tensor, hidden: int) -> tuple[torch.Tensor, ...]:
    i, h = INPUTS, hidden
    w1 = theta[..., : i * h]
    b1 = theta[..., i * h : i * h + h]
    w2 = theta[..., i * h + h : i * h + 2 * h]
    b2 = theta[..., i * h + 2 * h :]
    return w1, b1, w2, b2


def make_net(hidden: int) -> torch.nn.Module:
    """The network every genome encodes: Linear(8, h) -> tanh -> Linear(h, 1)."""
    from torch import nn

    return nn.Sequential(nn.Linear(INPUTS, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def evaluate_loop(
    pop: torch.Tensor, task: Task, hidden: int, net: torch.nn.Module | None = None
) -> torch.Tensor:
    """Fitness (-MSE) one network at a time, the way most research neuroevolution code is written:
    load each genome into an nn.Module and run it. Many tiny torch calls, the GIL held in between."""
    import torch
    from torch import nn

    net = net if net is not None else make_net(hidden)
    scores = []
    with torch.no_grad():
        for k in range(pop.shape[0]):
            nn.utils.vector_to_parameters(pop[k], net.parameters())
            scores.append(-nn.functional.mse_loss(net(task.x), task.y).item())
    return torch.tensor(scores, dtype=pop.dtype)


def evaluate_batched(pop: torch.Tensor, task: Task, hidden: int) -> torch.Tensor:
    """Fitness (-MSE) of the whole population in a few batched tensor ops."""
    import torch

    p = pop.shape[0]
    w1, b1, w2, b2 = _split(pop, hidden)
    # Same layout as nn.Linear's weights (out, in), so both styles read a genome alike.
    h = torch.tanh(torch.matmul(task.x.unsqueeze(0), w1.view(p, hidden, INPUTS).transpose(1, 2))
                   + b1.view(p, 1, hidden))
    pred = torch.matmul(h, w2.view(p, 1, hidden).transpose(1, 2)) + b2.view(p, 1, 1)
    return -((pred - task.y.unsqueeze(0)) ** 2).mean(dim=(1, 2))


class GeneticAlgorithm:
    """One GA population; `step()` makes the next generation. Islands exchange via emigrants/immigrate."""

    def __init__(self, params: GAParams, settings: GASettings, seed: int, population: int | None = None):
        import torch

        self.params = params
        self.settings = settings
        self.task = regression_task()
        self.size = population or settings.population
        self.rng = torch.Generator().manual_seed(seed)
        self.evaluations = 0
        self.net = make_net(settings.hidden) if settings.mode == "loop" else None
        d = genome_size(settings.hidden)
        self.pop = torch.randn(self.size, d, generator=self.rng, dtype=torch.float32) * 0.5
        self.fitness = self.evaluate(self.pop)

    def evaluate(self, pop: torch.Tensor) -> torch.Tensor:
        self.evaluations += pop.shape[0]
        if self.settings.mode == "batched":
            return evaluate_batched(pop, self.task, self.settings.hidden)
        return evaluate_loop(pop, self.task, self.settings.hidden, self.net)

    def _tournament(self, n: int) -> torch.Tensor:
        import torch

        t = min(self.params.tournament_size, self.size)
        cand = torch.randint(0, self.size, (n, t), generator=self.rng)
        best = self.fitness[cand].argmax(dim=1, keepdim=True)
        return cand.gather(1, best).squeeze(1)

    def step(self) -> None:
        import torch

        p, d = self.pop.shape
        n_elite = min(p - 1, max(1, round(self.params.elite_frac * p)))
        order = torch.argsort(self.fitness, descending=True, stable=True)
        elites = self.pop[order[:n_elite]]
        n = p - n_elite
        parents1 = self.pop[self._tournament(n)]
        parents2 = self.pop[self._tournament(n)]
        # One-point crossover for a fraction of the children; the rest copy parent 1.
        cross = torch.rand(n, 1, generator=self.rng) < self.params.crossover_rate
        points = torch.randint(1, d, (n, 1), generator=self.rng)
        take2 = cross & (torch.arange(d).unsqueeze(0) >= points)
        children = torch.where(take2, parents2, parents1)
        # Gaussian mutation of each gene with probability mutation_rate.
        mutate = torch.rand(n, d, generator=self.rng) < self.params.mutation_rate
        where = mutate.nonzero(as_tuple=True)
        noise = torch.randn(where[0].numel(), generator=self.rng) * self.params.mutation_sigma
        children[where] += noise
        self.pop = torch.cat([elites, children])
        self.fitness = torch.cat([self.fitness[order[:n_elite]], self.evaluate(children)])

    def best(self) -> float:
        return float(self.fitness.max())

    def emigrants(self, k: int) -> torch.Tensor:
        """Copies of the k best genomes, for ring migration."""
        import torch

        order = torch.argsort(self.fitness, descending=True, stable=True)
        return self.pop[order[:k]].clone()

    def immigrate(self, genomes: torch.Tensor) -> None:
        """Replace the worst individuals by incoming genomes (and evaluate them)."""
        import torch

        k = genomes.shape[0]
        if k == 0:
            return
        order = torch.argsort(self.fitness, descending=False, stable=True)
        worst = order[:k]
        self.pop[worst] = genomes
        self.fitness[worst] = self.evaluate(genomes)


def run_ga(
    params: GAParams,
    settings: GASettings,
    seed: int,
    on_generation: Callable[[int, int], None] | None = None,
) -> float:
    """Best fitness after `settings.generations` generations from `seed`."""
    ga = GeneticAlgorithm(params, settings, seed)
    for g in range(settings.generations):
        ga.step()
        if on_generation is not None:
            on_generation(g + 1, settings.generations)
    return ga.best()
