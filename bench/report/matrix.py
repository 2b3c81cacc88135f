"""The root-cause matrix: one row per run, the figures that say at a glance where the cores went."""

from __future__ import annotations

from dataclasses import dataclass

from bench.analysis.diagnose import Diagnosis, Finding, expected_processes
from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings import storage_bound, undersubscribed
from bench.records.kinds import Kind
from bench.report import cells as c

# CPU use of capacity: at or above this reads ✅ (the UNDERSUBSCRIBED line), below BAD reads ❌.
CPU_GOOD_SHARE = undersubscribed.UNDER_CPU_SHARE_MAX
CPU_BAD_SHARE = 0.3
# Useful efficiency: HEALTHY's bar reads ✅, below the error bar reads ❌.
EFF_GOOD = th.HEALTHY_MIN_EFFICIENCY
EFF_BAD = th.LOW_EFFICIENCY

# Statuses of runs that never started trials: no figure of theirs means anything.
NEVER_RAN = ("not run", "unavailable", "skipped")

HEADER = (
    "run",
    "status",
    "worker processes (expected · busy at once · ran trials)",
    "threads / process (peak) · runnable / core",
    "CPU use of capacity (mean · peak)",
    "useful efficiency",
    "trials done",
    "wall",
    "speedup vs sequential",
    "storage (backend · share of callers' time · per trial)",
    "findings",
)


@dataclass(frozen=True)
class MatrixRow:
    """The raw figures of one matrix row (the rendered cell text is derived from these)."""

    label: str
    status: str
    reason: str
    kind: str
    workers: int
    processes_expected: int | None
    processes_seen: int
    trial_pids: int
    threads_peak_per_proc: int
    runnable_per_core: float | None
    cpu_share: float | None
    cpu_share_peak: float | None
    efficiency: float | None
    speedup: float | None
    trials_done: int
    trials_failed: int
    trials_planned: int | None
    wall: float | None
    findings: tuple[Finding, ...]
    # Ray nodes the process and CPU figures are summed over (0: this machine's process tree),
    # and the capacity they are a share of (usable cores here, or the nodes' Ray CPUs).
    nodes: int = 0
    capacity: int = 0
    storage: str = ""
    storage_share: float | None = None
    storage_per_trial: float | None = None

    @property
    def baseline(self) -> bool:
        return self.kind == Kind.INLINE


def rows(d: Diagnosis) -> list[MatrixRow]:
    planned = d.recorded.config.get("trials")
    out = []
    for label in d.recorded.labels:
        ctx, obs = d.contexts[label], d.observations[label]
        s = d.recorded.summaries.get(label)
        cores = obs.usable_cores
        out.append(
            MatrixRow(
                label=label,
                status=ctx.status,
                reason=s.reason if s else "",
                kind=ctx.kind,
                workers=ctx.workers,
                processes_expected=expected_processes(ctx.kind, ctx.workers),
                processes_seen=d.processes_seen(label),
                trial_pids=obs.trial_pids,
                threads_peak_per_proc=obs.threads_peak_per_proc,
                runnable_per_core=obs.runnable_per_core,
                cpu_share=obs.cpu_share,
                cpu_share_peak=None if obs.cpu_cores_peak is None else obs.cpu_cores_peak / cores,
                efficiency=s.efficiency if s else None,
                speedup=s.speedup if s else None,
                trials_done=s.trials_done if s else obs.trials_complete,
                trials_failed=s.trials_failed if s else 0,
                trials_planned=int(planned) if planned else None,
                wall=s.wall if s else None,
                findings=tuple(d.findings.get(label, [])),
                nodes=obs.nodes,
                capacity=cores,
                storage=s.storage if s else "",
                storage_share=s.storage_share if s else None,
                storage_per_trial=s.storage_per_trial if s else None,
            )
        )
    return out


def _processes(r: MatrixRow) -> str:
    if r.status in NEVER_RAN:
        return c.NA
    if r.processes_expected is None:
        return f"? · {r.processes_seen} · {r.trial_pids}"
    text = f"{r.processes_expected} · {r.processes_seen} · {r.trial_pids}"
    if r.kind in (Kind.INLINE, Kind.THREADS):
        return text + (" (threads)" if r.kind == Kind.THREADS else "")
    ok = r.processes_seen >= r.processes_expected and r.trial_pids >= min(
        r.processes_expected, r.trials_done
    )
    bad = r.processes_seen <= 1 and r.processes_expected > 1
    where = f" ({r.nodes} nodes)" if r.nodes else ""
    return f"{c.GOOD if ok else c.BAD if bad else c.WARN} {text}{where}"


def _cpu(r: MatrixRow) -> str:
    if r.cpu_share is None:
        return c.NA
    text = f"{c.pct(r.cpu_share)} · {c.pct(r.cpu_share_peak)}"
    if r.baseline:
        return text
    return f"{c.mark(r.cpu_share, CPU_GOOD_SHARE, CPU_BAD_SHARE)} {text}"


def _efficiency(r: MatrixRow) -> str:
    if r.baseline and r.efficiency is not None:
        return "baseline"
    if r.efficiency is None:
        return c.NA
    return f"{c.mark(r.efficiency, EFF_GOOD, EFF_BAD)} {c.pct(r.efficiency)}"


def _trials(r: MatrixRow) -> str:
    text = f"{r.trials_done}/{r.trials_planned}" if r.trials_planned else str(r.trials_done)
    if r.trials_failed:
        text += f" (+{r.trials_failed} not ok)"
    if r.trials_planned and r.trials_done == 0:
        return f"{c.BAD} {text}"
    if r.trials_planned and r.trials_done < r.trials_planned:
        return f"{c.WARN} {text}"
    return text


def _storage(r: MatrixRow) -> str:
    if r.status in NEVER_RAN or not r.storage:
        return c.NA
    if r.storage_share is None:
        return f"{r.storage} · not timed"
    share = r.storage_share
    flag = (c.BAD if share >= storage_bound.STORAGE_SHARE_ERROR
            else c.WARN if share >= storage_bound.STORAGE_SHARE_MIN else "")
    per = c.NA if r.storage_per_trial is None else f"{r.storage_per_trial * 1000:.1f} ms"
    return f"{flag} {r.storage} · {c.pct(share)} · {per}".strip()


def _status(r: MatrixRow) -> str:
    if r.status == "ok":
        return "ok"
    return f"{c.STOP} {r.status}" + (f": {c.md(r.reason, limit=80)}" if r.reason else "")


def findings_cell(fs: tuple[Finding, ...]) -> str:
    return ", ".join(f"{c.SEVERITY_MARK[f.severity]} {f.code}" for f in fs) or c.NA


def cluster_notes(rs: list[MatrixRow]) -> list[str]:
    """One footnote line per row whose figures are summed over Ray nodes (none otherwise)."""
    return [
        f"`{r.label}` ran on a Ray cluster: its worker processes, threads and CPU are summed over "
        f"the {r.nodes} nodes' probe samples (their Ray worker processes; the probes, raylets and "
        f"agents left out), and its CPU use is a share of the {r.capacity} CPUs Ray was given on "
        "them, not of this machine's cores. CONTENDED is judged per host; GIL_BOUND is not "
        "judged there (the stack samples are of the driver, which runs no trial)."
        for r in rs
        if r.nodes and r.status not in NEVER_RAN
    ]


def render(rs: list[MatrixRow]) -> str:
    body = []
    for r in rs:
        threads = (
            f"{r.threads_peak_per_proc} · {c.num(r.runnable_per_core)}"
            if r.threads_peak_per_proc
            else c.NA
        )
        body.append(
            [
                f"`{r.label}`",
                _status(r),
                _processes(r),
                threads,
                _cpu(r),
                _efficiency(r),
                _trials(r),
                c.seconds(r.wall),
                "1.00× (baseline)" if r.baseline and r.speedup else c.times(r.speedup),
                _storage(r),
                findings_cell(r.findings),
            ]
        )
    return c.table(HEADER, body, right=(5, 7, 8))
