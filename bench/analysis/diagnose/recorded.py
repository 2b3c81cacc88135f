"""A results directory read once into memory, grouped by run label, for rules and the report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from bench.analysis.summary import RunSummary, summarize
from bench.config.labels import base_name
from bench.records.rundir import Skipped, open_run
from bench.records.schema import Heartbeat, Machine, RunMeta, RunRow, Sample, TrialRow

# How the built-in strategies run trials, for saved results read where a strategy's module
# cannot be imported (an optional package missing, a strategy since renamed).
BUILTIN_KINDS = {
    "sequential": "inline",
    "optuna-threads": "threads",
    "joblib-loky": "processes",
    "pool": "processes",
    "ray": "ray",
    "islands": "processes",
    "optuna-journal": "processes",
}


def strategy_kind(name: str, record: RunRow | None = None) -> str:
    """How a strategy runs trials: inline | threads | processes | ray (unknown when it cannot say).

    A run record that carries its kind wins; then the registry, which imports only that
    strategy's module; then the built-in table.
    """
    if record and record.get("kind"):
        return str(record["kind"])
    from bench.errors import BenchError
    from bench.strategies import get

    try:
        return str(get(name).kind)
    except (BenchError, ImportError, AttributeError):
        # A strategy not importable here must not stop a report of saved results.
        return BUILTIN_KINDS.get(name, "unknown")


R = TypeVar("R", TrialRow, Sample, Heartbeat)


def _group(rows: Iterable[R]) -> dict[str, list[R]]:
    out: dict[str, list[R]] = {}
    for r in rows:
        run = r.get("run")
        if run is not None:
            out.setdefault(str(run), []).append(r)
    return out


@dataclass(frozen=True)
class Recorded:
    """run.json, the last runs.jsonl record per label, and trials/samples/heartbeats by label."""

    meta: RunMeta
    runs: dict[str, RunRow]
    trials: dict[str, list[TrialRow]] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    heartbeats: dict[str, list[Heartbeat]] = field(default_factory=dict)
    notes: list[Sample] = field(default_factory=list)
    path: Path | None = None
    # Per JSONL file, the lines the loader skipped (not JSON, not an object, a wrong field type).
    skipped: dict[str, Skipped] = field(default_factory=dict)

    @classmethod
    def from_records(
        cls,
        meta: RunMeta,
        runs: Iterable[RunRow],
        trials: Iterable[TrialRow] = (),
        samples: Iterable[Sample] = (),
        heartbeats: Iterable[Heartbeat] = (),
        path: Path | None = None,
        skipped: dict[str, Skipped] | None = None,
    ) -> Recorded:
        last: dict[str, RunRow] = {}
        for rec in runs:
            last[str(rec.get("run"))] = rec
        samples = list(samples)
        return cls(
            meta=meta,
            runs=last,
            trials=_group(trials),
            samples=_group(s for s in samples if s.get("kind") != "note"),
            heartbeats=_group(heartbeats),
            notes=[s for s in samples if s.get("kind") == "note"],
            path=path,
            skipped=dict(skipped or {}),
        )

    @classmethod
    def load(cls, path: str | Path) -> Recorded:
        """Read a results directory (raises ResultsError when it is not one)."""
        rd = open_run(path)
        return cls.from_records(
            rd.meta(),
            rd.runs(),
            rd.trials(),
            rd.samples(),
            rd.heartbeats(),
            path=rd.path,
            skipped=rd.skipped,
        )

    @cached_property
    def labels(self) -> list[str]:
        """Run labels in plan order (planned runs that never started included), then any
        recorded run the plan does not name."""
        seen = list(dict.fromkeys(str(x) for x in self.meta.get("plan") or []))
        for lb in [*self.runs, *self.trials, *self.samples]:
            if lb not in seen:
                seen.append(lb)
        return seen

    @cached_property
    def summaries(self) -> dict[str, RunSummary]:
        all_trials = [t for rows in self.trials.values() for t in rows]
        return {s.label: s for s in summarize(list(self.runs.values()), all_trials)}

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.meta.get("config") or {})

    @property
    def machine(self) -> Machine:
        return self.meta.get("machine") or {}

    @cached_property
    def usable_cores(self) -> int:
        cores: object = self.machine.get("usable_cores")
        if not cores:
            cores = next(
                (
                    s.get("usable_cores")
                    for rows in self.samples.values()
                    for s in rows
                    if s.get("usable_cores")
                ),
                None,
            )
        return max(1, int(cores)) if isinstance(cores, int) else 1

    def kind(self, label: str) -> str:
        rec = self.runs.get(label) or {}
        return strategy_kind(str(rec.get("strategy") or base_name(label)), rec)

    @property
    def evaluations_per_trial(self) -> int | None:
        """GA fitness evaluations per trial (None for a user objective or an unknown config)."""
        cfg = self.config
        if cfg.get("objective") or not all(
            cfg.get(k) for k in ("population", "generations", "seeds")
        ):
            return None
        from bench.config import Config
        from bench.workload.objective import objective_from_config

        return objective_from_config(Config.from_dict(cfg)).evaluations_per_trial
