"""STARTUP_DOMINATED: Start-up took a large share of the run's wall.

The rule, its thresholds, its evidence, its sentence for the verdict and its runbook, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict, cast

from bench.analysis.diagnose.findings._base import (
    WARNING,
    Finding,
    FindingSpec,
    RunContext,
    num,
    pct,
    r,
)
from bench.records.kinds import Kind

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation

CODE = "STARTUP_DOMINATED"
RUNBOOK = "runbooks/STARTUP_DOMINATED.md"

# Share of the run's wall spent before the first trial started (spawning workers, imports,
# Ray start) from which the run measures start-up more than the search.
STARTUP_SHARE_MIN = 0.25
# Start-up shorter than this is not worth a finding whatever its share.
STARTUP_MIN_S = 1.0


class Evidence(TypedDict):
    """What STARTUP_DOMINATED records: start-up against the wall, and the end-to-end speedup."""

    startup_s: float | None
    wall_s: float | None
    share: float | None
    work_wall_s: float | None
    start_method: str
    wall_speedup: float | None


def rule(obs: Observation, ctx: RunContext) -> Finding | None:
    """A large share of the wall went by before the first trial started."""
    s = ctx.summary
    if ctx.kind == Kind.INLINE:
        return None  # the baseline's own start-up is not what a parallel strategy adds
    if s is None or not s.startup or not s.wall or s.startup < STARTUP_MIN_S:
        return None
    share = s.startup / s.wall
    if share < STARTUP_SHARE_MIN:
        return None
    ev: Evidence = {
        "startup_s": r(s.startup),
        "wall_s": r(s.wall),
        "share": r(share),
        "work_wall_s": r(s.work_wall),
        "start_method": s.start_method,
        "wall_speedup": r(s.wall_speedup),
    }
    return Finding(
        CODE,
        WARNING,
        ctx.label,
        ev,
        f"{s.startup:.1f} s of the run's {s.wall:.1f} s ({share:.0%}) went by before the first "
        "trial started: starting workers, importing PyTorch in each, starting Ray. Speedups here "
        "are measured over the trials alone; end to end the run "
        + (f"was {s.wall_speedup:.2f}x sequential." if s.wall_speedup else "pays this once."),
        "Measure with more or longer trials (`--preset default`, more `--trials`) so start-up is "
        "amortised; with `spawn`, compare `fork`/`forkserver` (`bench compare --strategies "
        "pool/fork,pool/spawn`) and keep workers alive across trials.",
    )


def headline(evidence: Mapping[str, object]) -> str:
    """This finding as a clause of the verdict: "`run` <headline>"."""
    e = cast(Evidence, evidence)
    share, startup = pct(e["share"]), num(e["startup_s"])
    return f"spent {share} of its wall ({startup} s) starting up"


SPEC = FindingSpec(CODE, (rule,), headline, RUNBOOK)
