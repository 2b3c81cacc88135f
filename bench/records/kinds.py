"""How a strategy runs its trials, as the records and the diagnosis name it."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """A strategy's kind. A StrEnum, so records keep the plain word ("processes") and a kind
    read back from them compares equal to its member."""

    INLINE = "inline"  # one trial at a time in the run's own process (the baseline)
    THREADS = "threads"  # trials as threads of one process
    PROCESSES = "processes"  # trials in worker processes
    RAY = "ray"  # trials as Ray tasks
    UNKNOWN = "unknown"  # a live process or a watched program: not a strategy of ours


# Kinds that run trials side by side.
PARALLEL_KINDS = (Kind.THREADS, Kind.PROCESSES, Kind.RAY)
# Kinds whose trials run outside the run's own process (its root only asks and tells).
WORKER_KINDS = (Kind.PROCESSES, Kind.RAY)
