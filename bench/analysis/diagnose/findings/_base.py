"""What every finding module shares: the Finding record, severities, the comparison context a rule
sees, and the few formatting helpers its sentences use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bench.analysis.diagnose import thresholds as th
from bench.records.kinds import PARALLEL_KINDS

if TYPE_CHECKING:
    from bench.analysis.diagnose.observe import Observation
    from bench.analysis.summary import RunSummary

ERROR = "error"
WARNING = "warning"
INFO = "info"
OK = "ok"
SEVERITIES = (ERROR, WARNING, INFO, OK)
NA = "—"


def runbook_for(code: str) -> str:
    """The stable runbook file name of a finding code, relative to the repository root."""
    return f"runbooks/{code}.md"


@dataclass(frozen=True)
class Finding:
    """One named diagnosis of one run: what fired, the numbers that fired it, what to do next."""

    code: str
    severity: str
    run: str
    # The owning module's `Evidence` TypedDict; a reader that needs a key casts to it after
    # checking `code`.
    evidence: Mapping[str, object]
    explanation: str
    action: str
    runbook: str = field(default="")

    def __post_init__(self) -> None:
        from bench.analysis.diagnose.findings import CODES

        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not self.runbook:
            object.__setattr__(self, "runbook", runbook_for(self.code))

    @property
    def rank(self) -> int:
        from bench.analysis.diagnose.findings import PRIORITY

        return PRIORITY.index(self.code)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = dict(self.evidence)
        return d


@dataclass(frozen=True)
class RunContext:
    """What a rule may compare a run with: its summary, the sequential baseline, and for an
    unlimited-threads run the thread-limited run of the same strategy and start method; for a
    live process (`live`) none of these."""

    label: str
    kind: str
    workers: int
    status: str = "ok"
    summary: RunSummary | None = None
    baseline: RunSummary | None = None
    baseline_obs: Observation | None = None
    limited: RunSummary | None = None
    # The user's own program (`bench watch`): it has the whole machine to use, whatever its
    # worker count, and no sequential baseline in its results directory.
    own_program: bool = False
    # A live process (bench attach, bench watch): the evidence is its samples and whatever trial
    # records it traced, the run is not over, and nothing ran beside it to compare with.
    live: bool = False

    @property
    def efficiency(self) -> float | None:
        return None if self.summary is None else self.summary.efficiency

    @property
    def parallel(self) -> bool:
        return self.kind in PARALLEL_KINDS and (self.workers > 1 or self.own_program)

    def severity_by_efficiency(self, default: str = WARNING) -> str:
        eff = self.efficiency
        return ERROR if eff is not None and eff < th.LOW_EFFICIENCY else default


Rule = Callable[["Observation", RunContext], "Finding | None"]
# Called with the evidence of a finding of its own code (the registry dispatches by code), which
# it reads through its module's `Evidence`.
Headline = Callable[[Mapping[str, object]], str]


@dataclass(frozen=True)
class FindingSpec:
    """A finding as the registry knows it: its code, its rule (one rule for every kind of
    evidence: each arm of it judges from what a run recorded, trials or samples alone), its
    verdict clause and its runbook."""

    code: str
    rules: tuple[Rule, ...]
    headline: Headline
    runbook: str
    # Codes that already explain what this finding would say: it is dropped beside them.
    explained_by: tuple[str, ...] = ()


def r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def pct(x: float | None, digits: int = 0) -> str:
    return NA if x is None else f"{x:.{digits}%}"


def num(v: float | None, digits: int = 1) -> str:
    return NA if v is None else f"{v:.{digits}f}"


def capacity(obs: Observation) -> str:
    """What `usable_cores` counts: this machine's cores, or a cluster's Ray CPUs."""
    return f"Ray CPUs over {obs.nodes} nodes" if obs.nodes else "usable cores"


def efficiency_note(ctx: RunContext) -> str:
    s = ctx.summary
    if s is None or s.speedup is None:
        return ""
    return f" Useful speedup {s.speedup:.2f}x vs sequential over {ctx.workers} workers ({share_text(s.efficiency)})."


def share_text(x: float | None) -> str:
    """A share in a finding's explanation: "40%", or "n/a" when it was not measured."""
    return "n/a" if x is None else f"{x:.0%}"
