"""A probe session: the process-tree sampler and the stack sampler around one run, one sink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probes.machine import usable_cores
from probes.stacks import STACK_CPU_SHARE, StackSampler
from probes.tree import ProcessTreeSampler

Sink = Callable[[dict[str, Any]], None]


class ProbeSession:
    """Runs both samplers beside a process tree; every record reaches `sink` with `tags` merged in.

    Use as a context manager around the run; `stop()` is idempotent and returns within about a
    second (an in-flight py-spy is killed). The stack sampler dumps the Python processes the tree
    sampler found at its last sample, root first, busiest next, and holds py-spy to
    `max_stack_cores` cores on average (default: STACK_CPU_SHARE of the usable cores).
    """

    def __init__(
        self,
        root_pid: int,
        sink: Sink,
        *,
        interval: float = 0.5,
        stack_interval: float = 2.0,
        stacks: bool = True,
        tags: dict[str, Any] | None = None,
        extra_pids_fn: Callable[[], list[int]] | None = None,
        max_stack_pids: int = 8,
        max_stack_cores: float | None = None,
    ) -> None:
        self.root_pid = root_pid
        self.tags = dict(tags or {})
        self._sink = sink
        self.tree = ProcessTreeSampler(
            root_pid, self._emit, interval=interval, extra_pids_fn=extra_pids_fn,
            observer_extra_cpu=self._py_spy_cpu,
        )
        self.stacks: StackSampler | None = None
        if stacks:
            self.stacks = StackSampler(
                root_pid, self._emit, interval=stack_interval, pids_fn=self._python_pids,
                max_pids=max_stack_pids,
                max_cores=max_stack_cores if max_stack_cores is not None
                else STACK_CPU_SHARE * usable_cores(),
            )
        self._started = False
        self._stopped = False

    def _emit(self, record: dict[str, Any]) -> None:
        self._sink({**record, **self.tags} if self.tags else record)

    def _py_spy_cpu(self) -> float:
        return self.stacks.py_spy_cpu_s if self.stacks is not None else 0.0

    def _python_pids(self) -> list[int]:
        return self.tree.python_pids() or [self.root_pid]

    def start(self) -> ProbeSession:
        if self._started:
            return self
        self._started = True
        self.tree.start()
        if self.stacks is not None:
            self.stacks.start()
        return self

    def stop(self) -> None:
        """Stop both samplers (idempotent)."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        # Signal both first so they wind down in parallel, then wait for each.
        self.tree.request_stop()
        if self.stacks is not None:
            self.stacks.request_stop()
            self.stacks.stop(timeout=1.0)
        self.tree.stop(timeout=1.0)

    def __enter__(self) -> ProbeSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
