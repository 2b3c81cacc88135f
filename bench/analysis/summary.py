"""Per-run figures from recorded data: wall, trials done, throughput, speedup vs sequential.

Speedup is measured from useful throughput (completed trials per second over the working phase,
first trial start to last trial end) against the sequential run of the same results directory.
One-time start-up (worker spawn, imports, Ray start) is reported separately as `startup`, and
`wall_speedup` gives the end-to-end figure that includes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from bench.config.labels import base_name
from bench.records.schema import RunRow, TrialRow


@dataclass(frozen=True)
class RunSummary:
    """One strategy run's headline numbers, all derived from runs.jsonl and trials.jsonl."""

    label: str
    strategy: str
    status: str
    workers: int
    threads: int | None
    threads_policy: str
    start_method: str
    wall: float | None  # strategy run, start-up included
    startup: float | None  # run start to first trial start
    work_wall: float | None  # first trial start to last trial end
    trials_done: int
    trials_failed: int
    throughput: float | None  # completed trials per second of work_wall
    speedup: float | None  # throughput / sequential throughput
    efficiency: float | None  # speedup / workers
    wall_speedup: float | None  # sequential wall per trial / this wall per trial
    pids: int  # distinct worker pids in the trial records
    reason: str = ""
    storage: str = ""  # the storage backend: in-memory, journal file, sqlite, postgresql, ...
    storage_s: float | None = None  # storage-call wall seconds summed over the timed trials
    storage_trials: int = 0  # trials whose record carries their storage time
    # storage_s over the time of the threads that make the calls (each worker for optuna-journal
    # and optuna-threads, the one parent for ask/tell strategies) during the working phase
    storage_share: float | None = None
    storage_callers: int = 1
    storage_in_workers: bool = False  # the workers call the storage (else the parent does)

    @property
    def storage_per_trial(self) -> float | None:
        return None if self.storage_s is None or not self.storage_trials else self.storage_s / self.storage_trials


def summarize(runs: Iterable[RunRow], trials: Iterable[TrialRow]) -> list[RunSummary]:
    last: dict[str, RunRow] = {}
    for rec in runs:
        last[str(rec.get("run"))] = rec
    by_run: dict[str, list[TrialRow]] = {}
    for t in trials:
        by_run.setdefault(str(t.get("run")), []).append(t)
    rows: list[RunSummary] = []
    for label, rec in last.items():
        ts = by_run.get(label, [])
        # Pruned trials ended where the study's pruner chose: work done, like completed ones.
        ok = [t for t in ts if t.get("state") in ("complete", "pruned")]
        # A trial with a pid ran (a cancelled one never got one); a watched program's ask/tell
        # trials ran too, in a process the records cannot name (pid 0).
        started = [t for t in ts if t.get("pid") or t.get("mode") == "ask_tell"]
        # islands records every island process of a trial in `pids`.
        pid_set = {p for t in started for p in (t.get("pids") or [t.get("pid") or 0]) if p}
        wall = rec.get("wall")
        work = None
        if ok:
            work = max(float(t["end"]) for t in ts if t.get("end")) - min(float(t["start"]) for t in started or ok)
        startup = None
        if started and rec.get("start") is not None:
            startup = max(0.0, min(float(t["start"]) for t in started) - float(rec["start"]))
        timed = [float(s) for t in ts if (s := t.get("storage_s")) is not None]
        callers = int(rec.get("storage_callers") or 1)
        storage_s = sum(timed) if timed else None
        share = None
        if storage_s is not None and work:
            share = min(1.0, storage_s / (callers * work))
        rows.append(RunSummary(
            label=label, strategy=str(rec.get("strategy") or base_name(label)),
            status=str(rec.get("status")), workers=int(rec.get("workers") or 1),
            threads=rec.get("threads"), threads_policy=str(rec.get("threads_policy") or ""),
            start_method=str(rec.get("start_method") or ""), wall=wall, startup=startup,
            work_wall=work, trials_done=len(ok), trials_failed=len(ts) - len(ok),
            throughput=len(ok) / work if work and ok else None, speedup=None, efficiency=None,
            wall_speedup=None, pids=len(pid_set),
            reason=str(rec.get("reason") or ""),
            storage=str(rec.get("storage") or ""), storage_s=storage_s, storage_trials=len(timed),
            storage_share=share, storage_callers=callers,
            storage_in_workers=bool(rec.get("storage_in_workers")),
        ))
    base = next((r for r in rows if r.strategy == "sequential" and r.throughput), None)
    out = []
    for r in rows:
        if base is not None and base.throughput and r.throughput:
            sp = r.throughput / base.throughput
            r = replace(r, speedup=sp, efficiency=sp / max(1, r.workers))
            if base.wall and r.wall and r.trials_done and base.trials_done:
                r = replace(r, wall_speedup=(base.wall / base.trials_done) / (r.wall / r.trials_done))
        out.append(r)
    return out
