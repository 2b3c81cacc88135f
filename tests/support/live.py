"""Attach `bench attach` to one live case (tests/fixtures/live_cases.py) for real: start its
target script, inside a CPU cgroup where the case says so, watch it, return what it wrote."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.fixtures.live_cases import LiveCase

# What attach runs with by default: the bar is a verdict within that.
DURATION_S = 10.0


@contextlib.contextmanager
def _place(case: LiveCase) -> Iterator[tuple[str, ...]]:
    """The case's arguments, with `{cgroup_procs}` filled in by a fresh cgroup when it needs one."""
    from tests.scripts.cgroups import cpu_cgroup

    if case.cgroup_cpus is None:
        yield case.args
        return
    with cpu_cgroup(case.cgroup_cpus) as path:
        yield tuple(a.replace("{cgroup_procs}", str(path / "cgroup.procs")) for a in case.args)


def run_case(case: LiveCase, out: Path, duration: float = DURATION_S) -> dict[str, Any]:
    """Attach to the case's job for `duration` s (started inside a CPU cgroup where the case says
    so); run.json of the result (findings, verdict) with what attach printed as "printed"."""
    from bench.cli.attach import attach
    from tests.scripts.targets import target

    stream = io.StringIO()
    with _place(case) as args, target(case.script, *args, env=case.env or None) as proc:
        attach(proc.pid, duration=duration, out=out, stream=stream)
    meta: dict[str, Any] = json.loads((out / "run.json").read_text())
    meta["printed"] = stream.getvalue()
    return meta
