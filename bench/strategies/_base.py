"""The common interface of every parallel strategy, and the context a strategy runs in."""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench.records.kinds import Kind
from bench.strategies import _storage_time
from bench.trial.execute import CANCELLED, COMPLETE, PRUNED, TrialRecord, TrialSpec
from probes.sink import JsonlSink

if TYPE_CHECKING:
    import optuna

    from bench.trial.remote import Channel
    from bench.workload.objective import ObjectiveRef


@dataclass(frozen=True)
class Availability:
    """Whether a strategy can run here, and why not."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class RunSettings:
    """The few run-wide settings strategies read (the rest of the config is the runner's): how
    many trials, how the study samples and prunes, where a shared storage or a Ray cluster is, and
    the island GA's migration."""

    trials: int
    sampler: str = "tpe"
    sampler_seed: int = 0
    pruner: str = "none"
    storage: str | None = None
    study_name: str | None = None
    ray_address: str | None = None
    probe_interval: float = 0.5
    migrate_every: int = 5
    migrants: int = 2

    @classmethod
    def of(cls, config: Any) -> RunSettings:
        """The settings of a Config (any object with these attributes)."""
        return cls(**{f: getattr(config, f) for f in cls.__dataclass_fields__})


@dataclass
class StrategyContext:
    """What a strategy gets: the study (ask/tell lives here), the knobs, and where results go."""

    label: str
    settings: RunSettings
    objective: ObjectiveRef
    study: optuna.Study
    workers: int
    threads_policy: str
    threads: int | None
    start_method: str
    trial_timeout: float | None
    deadline: float | None
    heartbeat_path: str
    trials_out: JsonlSink
    strategy: str = ""
    # Declared: trials are asked with it and workers run FixedTrials (the fast path). None:
    # define-by-run, each worker's suggest_* answered by the parent's trial (`serve_trials`).
    search_space: dict[str, Any] | None = None
    channel: Channel | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    asked: int = 0
    told: int = 0  # trials that ran to an end (complete, failed, timeout, crashed)
    cancelled: int = 0  # trials stopped because the run ended (deadline, interrupt)
    # Writes this run's record and ends the process at once (set by bench.run.child). For strategies
    # whose workers cannot be stopped (threads of this process): the only way to end on time.
    exit_now: Callable[[str, str], None] | None = None
    _pending: dict[int, Any] = field(default_factory=dict)
    _ask_s: dict[int, float] = field(default_factory=dict)  # storage seconds of each pending ask
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def n_trials(self) -> int:
        return self.settings.trials

    @property
    def results_dir(self) -> Path:
        return Path(self.trials_out.path).parent

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()

    def should_stop(self) -> bool:
        left = self.time_left()
        return self.stop.is_set() or (left is not None and left <= 0)

    def ask(self) -> TrialSpec | None:
        """Next trial, sampled in this (parent) process; None when all N are asked or on stop."""
        with self._lock:
            if self.asked >= self.n_trials or self.should_stop():
                return None
            t0 = _storage_time.seconds()
            trial = self.study.ask(fixed_distributions=self.search_space)
            self.asked += 1
            self._pending[trial.number] = trial
            self._ask_s[trial.number] = _storage_time.seconds() - t0
            return self.spec_for(trial.number, dict(trial.params))

    def spec_for(self, number: int, params: dict[str, Any]) -> TrialSpec:
        return TrialSpec(
            number=number, params=params, objective=self.objective, run=self.label,
            threads=self.threads, heartbeat_path=self.heartbeat_path,
            channel=self.channel if self.search_space is None else None,
        )

    def live_trial(self, number: int) -> optuna.Trial | None:
        """The study's own trial `number` while it runs (asked here, not yet told)."""
        with self._lock:
            trial: optuna.Trial | None = self._pending.get(number)
            return trial

    @contextlib.contextmanager
    def serve_trials(self, host: str | None = None) -> Iterator[None]:
        """Define-by-run in worker processes: serve the parent's live trials to them while the
        strategy runs (nothing to serve with a declared search space). `host`: listen on TCP
        there (workers on other machines), else on a Unix socket."""
        if self.search_space is not None:
            yield
            return
        from bench.trial.remote import serving

        with serving(self.live_trial, host) as server:
            self.channel = server.channel
            try:
                yield
            finally:
                self.channel = None

    def tell(self, record: TrialRecord) -> None:
        """Record a finished trial (appended at once) and tell the study, if it asked it here."""
        import optuna

        with self._lock:
            trial = self._pending.pop(record.number, None)
            ask_s = self._ask_s.pop(record.number, None)
            self.told += 1
        changes: dict[str, Any] = {"run": self.label, "strategy": self.strategy}
        if trial is not None and self.search_space is None:
            changes["params"] = dict(trial.params)  # define-by-run: what the study suggested
        record = record.with_(**changes)
        if trial is None:
            self.trials_out.append(record.to_dict())
            return
        t0 = _storage_time.seconds()
        try:
            if record.state == COMPLETE and record.value is not None:
                self.study.tell(trial, record.value)
            elif record.state == PRUNED:
                self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        finally:
            # Told first so the record carries the tell's storage time; appended even when the
            # storage failed (the trial ran; the run then ends with the storage's error).
            storage_s = (ask_s or 0.0) + _storage_time.seconds() - t0
            self.trials_out.append(record.with_(storage_s=storage_s).to_dict())

    def record_only(self, record: TrialRecord) -> None:
        """Append a trial the study already knows (strategies whose workers tell the study)."""
        self.trials_out.append(record.with_(run=self.label, strategy=self.strategy).to_dict())
        with self._lock:
            if record.state == CANCELLED:
                self.cancelled += 1
            else:
                self.told += 1

    def note(self, asked: int = 0, told: int = 0) -> None:
        """Count trials asked/recorded elsewhere (workers that own their study and records)."""
        with self._lock:
            self.asked += asked
            self.told += told

    def cancel_pending(self, reason: str) -> None:
        """Record every asked-but-unfinished trial as cancelled (run timeout or interrupt)."""
        import optuna

        with self._lock:
            pending = list(self._pending.items())
            self._pending.clear()
            self._ask_s.clear()
            self.cancelled += len(pending)
        now = time.time()
        for number, trial in pending:
            rec = TrialRecord(
                number=number, state=CANCELLED, value=None, params=dict(trial.params), start=now,
                end=now, pid=0, worker="", torch_threads=self.threads, run=self.label,
                strategy=self.strategy, error=reason,
            )
            self.trials_out.append(rec.to_dict())
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)


class Strategy(ABC):
    """A way to run N trials with W workers. Subclasses live one per module, registered by name."""

    name: ClassVar[str]
    kind: ClassVar[Kind]
    summary: ClassVar[str]
    # Can a running trial be stopped at its timeout? Threads cannot be killed in Python.
    can_stop_trial: ClassVar[bool] = True
    # Not empty: it runs only the reference GA (islands), and this says why a user objective
    # is not run under it.
    ga_only: ClassVar[str] = ""
    # Do its trials run on real optuna Trials where a study lives (optimize in each thread or
    # process), never on parameters sampled ahead from a declared search space?
    real_trials: ClassVar[bool] = False
    uses_start_method: ClassVar[bool] = False
    # Who makes the storage calls (ask, suggest, tell): each worker (it runs study.optimize), or
    # only the parent, for all workers (ask/tell strategies). The storage share of a run is of
    # the time of those callers.
    storage_in_workers: ClassVar[bool] = False

    @classmethod
    def available(cls) -> Availability:
        return Availability(True)

    @abstractmethod
    def run(self, ctx: StrategyContext) -> None:
        """Run ctx.n_trials trials; record each through ctx.tell as it finishes; never hang."""
