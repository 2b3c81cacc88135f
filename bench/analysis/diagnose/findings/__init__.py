"""The named findings, one module each (rule, thresholds, evidence, verdict clause, runbook), and
the registry that orders them root cause first and applies them to a run.

Adding a finding: a module here with CODE, RUNBOOK, its `Evidence` TypedDict, its rule(s),
headline and SPEC, its place in `REGISTRY`, its runbook in runbooks/, and its test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.analysis.diagnose.findings import (
    contended,
    dispatch_overhead,
    gil_bound,
    healthy,
    oversubscribed,
    spin_wait,
    stalled,
    startup_dominated,
    steal,
    storage_bound,
    threads_not_processes,
    throttled,
    undersubscribed,
)
from bench.analysis.diagnose.findings._base import (
    ERROR,
    INFO,
    OK,
    SEVERITIES,
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    runbook_for,
)

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

__all__ = [
    "CODES", "ERROR", "INFO", "OK", "PRIORITY", "REGISTRY", "SEVERITIES", "WARNING", "Finding",
    "FindingSpec", "RunContext", "apply", "by_priority", "headline", "runbook_for",
]

# Root causes first: when a run has several findings, the first in this order explains it best
# (a stall explains everything after it; idle cores are usually a consequence of something else).
# CONTENDED is about the measurement, not the strategy: other processes took the cores. HEALTHY
# is judged last, over what the others found.
REGISTRY: tuple[FindingSpec, ...] = (
    stalled.SPEC,
    throttled.SPEC,
    gil_bound.SPEC,
    threads_not_processes.SPEC,
    oversubscribed.SPEC,
    spin_wait.SPEC,
    startup_dominated.SPEC,
    storage_bound.SPEC,
    dispatch_overhead.SPEC,
    undersubscribed.SPEC,
    steal.SPEC,
    contended.SPEC,
    healthy.SPEC,
)
PRIORITY: tuple[str, ...] = tuple(s.code for s in REGISTRY)
CODES = frozenset(PRIORITY)
_BY_CODE = {s.code: s for s in REGISTRY}

THREADS_NOT_PROCESSES = threads_not_processes.CODE
GIL_BOUND = gil_bound.CODE
OVERSUBSCRIBED = oversubscribed.CODE
SPIN_WAIT = spin_wait.CODE
UNDERSUBSCRIBED = undersubscribed.CODE
STALLED = stalled.CODE
STARTUP_DOMINATED = startup_dominated.CODE
DISPATCH_OVERHEAD = dispatch_overhead.CODE
STORAGE_BOUND = storage_bound.CODE
CONTENDED = contended.CODE
HEALTHY = healthy.CODE
THROTTLED = throttled.CODE
STEAL = steal.CODE


def by_priority(findings: list[Finding]) -> list[Finding]:
    """Findings ordered root cause first (stable within one code)."""
    return sorted(findings, key=lambda f: f.rank)


def headline(f: Finding) -> str:
    """A finding as a clause: "`run` <headline>" reads as a sentence."""
    return _BY_CODE[f.code].headline(f.evidence)


def apply(obs: Observation, ctx: RunContext) -> list[Finding]:
    """Every finding of one run, root cause first, and HEALTHY when nothing else applies: the same
    rules for a recorded run and a live process (`ctx.live`), each judging from the evidence the
    run has."""
    out = [f for spec in REGISTRY for rule in spec.rules if (f := rule(obs, ctx)) is not None]
    fired = {f.code for f in out}
    out = [f for f in out if not fired.intersection(_BY_CODE[f.code].explained_by)]
    ok = healthy.rule(obs, ctx, out)
    if ok is not None:
        out.append(ok)
    return by_priority(out)
