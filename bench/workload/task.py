"""A regression task generated locally (no downloads): fit a fixed random 'teacher' function."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

INPUTS = 8
SAMPLES = 32
TASK_SEED = 20261128


@dataclass(frozen=True)
class Task:
    x: torch.Tensor  # (SAMPLES, INPUTS)
    y: torch.Tensor  # (SAMPLES, 1)


@lru_cache(maxsize=1)
def regression_task() -> Task:
    """The same data in every process: generated from a fixed seed, in float32."""
    import torch

    g = torch.Generator().manual_seed(TASK_SEED)
    x = torch.randn(SAMPLES, INPUTS, generator=g, dtype=torch.float32)
    a = torch.randn(INPUTS, 6, generator=g, dtype=torch.float32)
    b = torch.randn(6, 1, generator=g, dtype=torch.float32)
    y = torch.tanh(x @ a) @ b * 0.5 + 0.3 * torch.sin(3.0 * x[:, :1])
    return Task(x=x, y=y)
