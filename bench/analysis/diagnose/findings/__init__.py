"""The named findings a diagnosis produces, each with its evidence, next action and runbook."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

THREADS_NOT_PROCESSES = "THREADS_NOT_PROCESSES"
GIL_BOUND = "GIL_BOUND"
OVERSUBSCRIBED = "OVERSUBSCRIBED"
SPIN_WAIT = "SPIN_WAIT"
UNDERSUBSCRIBED = "UNDERSUBSCRIBED"
STALLED = "STALLED"
STARTUP_DOMINATED = "STARTUP_DOMINATED"
DISPATCH_OVERHEAD = "DISPATCH_OVERHEAD"
CONTENDED = "CONTENDED"
HEALTHY = "HEALTHY"

# Root causes first: when a run has several findings, the first in this order explains it best
# (a stall explains everything after it; idle cores are usually a consequence of something else).
# CONTENDED is about the measurement, not the strategy: other processes took the cores.
PRIORITY: tuple[str, ...] = (
    STALLED,
    GIL_BOUND,
    THREADS_NOT_PROCESSES,
    OVERSUBSCRIBED,
    SPIN_WAIT,
    STARTUP_DOMINATED,
    DISPATCH_OVERHEAD,
    UNDERSUBSCRIBED,
    CONTENDED,
    HEALTHY,
)
CODES = frozenset(PRIORITY)

ERROR = "error"
WARNING = "warning"
INFO = "info"
OK = "ok"
SEVERITIES = (ERROR, WARNING, INFO, OK)


def runbook_for(code: str) -> str:
    """The stable runbook file name of a finding code, relative to the repository root."""
    return f"runbooks/{code}.md"


@dataclass(frozen=True)
class Finding:
    """One named diagnosis of one run: what fired, the numbers that fired it, what to do next."""

    code: str
    severity: str
    run: str
    evidence: dict[str, Any]
    explanation: str
    action: str
    runbook: str = field(default="")

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not self.runbook:
            object.__setattr__(self, "runbook", runbook_for(self.code))

    @property
    def rank(self) -> int:
        return PRIORITY.index(self.code)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def by_priority(findings: list[Finding]) -> list[Finding]:
    """Findings ordered root cause first (stable within one code)."""
    return sorted(findings, key=lambda f: f.rank)
