"""Thread policy: how many intra-op threads each worker's libraries may start."""

from __future__ import annotations

import os
from typing import Any

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")

# threadpoolctl limiters must stay referenced for the limit to hold in this process.
_limiters: list[Any] = []


def resolve(policy: str | int, workers: int, cores: int) -> int | None:
    """Threads per worker: `auto` = cores // workers (>= 1), `unlimited` = None (library defaults)."""
    if policy == "unlimited":
        return None
    if policy == "auto":
        return max(1, cores // max(1, workers))
    return int(policy)


def env_for(threads: int | None) -> dict[str, str]:
    """Environment a worker should start with (empty for `unlimited`)."""
    if threads is None:
        return {}
    return {name: str(threads) for name in THREAD_ENV_VARS}


def apply(threads: int | None) -> None:
    """Limit this process's native pools (torch, OpenMP, BLAS); no-op for `unlimited`."""
    if threads is None:
        return
    os.environ.update(env_for(threads))
    try:
        from threadpoolctl import threadpool_limits

        _limiters.append(threadpool_limits(limits=threads))
    except ImportError:
        pass
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def current_torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return int(torch.get_num_threads())
