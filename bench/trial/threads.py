"""Thread policy: how many intra-op threads each worker's libraries may start."""

from __future__ import annotations

import os
import sys
from typing import Any

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
)

# threadpoolctl limiters must stay referenced for the limit to hold in this process.
_limiters: list[Any] = []
# (pid, threads) last applied: applying is ~1 ms (threadpoolctl scans the loaded libraries), and
# workers call it before every trial. The pid makes a forked child apply once on its own.
_applied: tuple[int, int] | None = None


def resolve(policy: str | int, workers: int, cores: int) -> int | None:
    """Threads per worker: `auto` = cores // workers (>= 1), `unlimited` = None (the defaults)."""
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
    global _applied
    if threads is None or _applied == (os.getpid(), threads):
        return
    os.environ.update(env_for(threads))
    try:
        from threadpoolctl import threadpool_limits

        _limiters.append(threadpool_limits(limits=threads))
    except ImportError:
        pass
    # Not imported yet: torch sizes its pools from the env vars just set when it loads, so an
    # objective that never needs torch does not pay ~1-2 s to import it here.
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    _limiters[:-1] = []  # an older limit is replaced, not stacked
    _applied = (os.getpid(), threads)


def current_torch_threads() -> int | None:
    """Intra-op threads torch runs with here; None when this process never loaded torch."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return int(torch.get_num_threads())
