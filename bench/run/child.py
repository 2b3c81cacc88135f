"""The process one strategy run lives in: `python -m bench.run.child RESULTS_DIR LABEL`.

Each strategy runs in a fresh interpreter so that one run's torch threads, Ray instance or
forked workers cannot leak into the next, and so the probes' root pid is exactly that run.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, cast

from bench.config import SECRET_ENV, Config
from bench.config.labels import base_name, parse
from bench.errors import BenchError, StrategyUnavailable
from bench.records.kinds import Kind
from bench.records.rundir import HEARTBEATS_FILE, RUNS_FILE, TRIALS_FILE, RunDir
from bench.strategies import RunSettings, StrategyContext, get
from bench.strategies._storage_time import JOURNAL_FILE, backend_name
from bench.strategies._study import connect, join_study, make_pruner, make_sampler
from bench.trial import threads as thread_policy
from bench.trial.execute import RunControl, preload
from bench.trial.lifeline import die_with_parent, parent_from_env
from bench.workload.objective import objective_from_config
from probes.redact import redact
from probes.sink import WriteFailed

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3
# The results directory could not be written (disk full, removed, read-only): the runner stops
# the plan, since every later run would fail the same way.
EXIT_WRITE_FAILED = 4


class _InterruptedTwice(RunControl):
    """A second SIGINT/SIGTERM: give up now. Not a KeyboardInterrupt, which an objective may
    raise itself (a failed trial, not the end of the run)."""


def make_study(cfg: Config, label: str, run_id: str, direction: str) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = make_sampler(cfg.sampler, cfg.sampler_seed)
    pruner = make_pruner(cfg.pruner)
    if cfg.storage and cfg.study_name and base_name(label) == "optuna-journal":
        # --study-name: the study other processes (other machines) share; a baseline run
        # beside it keeps a study of its own.
        return join_study(cfg.storage, cfg.study_name, direction, sampler, pruner)
    return optuna.create_study(
        storage=connect(cfg.storage), sampler=sampler, pruner=pruner,
        direction=cast(Any, direction),
        study_name=f"{run_id}-{label}", load_if_exists=False,
    )


def run_child(run_dir: Path, label: str) -> int:
    rd = RunDir(run_dir)
    meta = rd.meta()
    cfg = Config.from_dict(meta["config"])
    for key, name in SECRET_ENV.items():  # the unmasked URLs: run.json holds them masked
        if os.environ.get(name):
            cfg = cfg.with_(**{key: os.environ[name]})
    spec = parse(label, cfg.threads, cfg.start_method)
    runs_out = rd.appender(RUNS_FILE)
    started = time.time()
    cls = get(spec.strategy)
    base: dict[str, Any] = {
        "run": label, "strategy": spec.strategy, "threads_policy": spec.threads_policy,
        "start_method": spec.start_method,
        "workers": cfg.workers if spec.strategy != "sequential" else 1,
        "pid": os.getpid(), "process_start": _process_start(), "start": started,
        "kind": cls.kind,
        # The backend's name, never its URL (the password): in-memory, journal file, sqlite, ...
        "storage": backend_name(cfg.storage) if cfg.storage or spec.strategy != "optuna-journal"
        else JOURNAL_FILE,
    }
    base["storage_in_workers"] = cls.storage_in_workers
    base["storage_callers"] = base["workers"] if cls.storage_in_workers else 1
    avail = cls.available()
    objective = objective_from_config(cfg)
    if avail.ok and cls.ga_only and objective.user is not None:
        avail = avail.__class__(False, cls.ga_only)
    space = None
    # A declared search space is the fast path (params sampled in the parent, no round trip per
    # param); pruning needs the live trial's report/should_prune, so a pruner turns it off.
    # islands runs the GA's own generations on sampled params: always the declared space.
    if avail.ok and not cls.real_trials and (cfg.pruner == "none" or cls.ga_only):
        space = objective.search_space()
    base["params_path"] = "declared" if space is not None else "define-by-run"
    if not avail.ok:
        runs_out.append(
            {**base, "status": "unavailable", "reason": avail.reason, "end": time.time()}
        )
        return EXIT_UNAVAILABLE
    workers = base["workers"]
    # The sequential baseline runs each trial with the threads a parallel worker gets under
    # `auto` (cores // W), so a speedup measures trial-level parallelism alone, not a change in
    # intra-op threads. `sequential@N` or `sequential@unlimited` asks for something else.
    threads = thread_policy.resolve(
        spec.threads_policy if spec.threads_policy in ("auto", "unlimited")
        else int(spec.threads_policy),
        int(cfg.workers or 1) if spec.strategy == "sequential" else workers, meta["machine"]["usable_cores"],
    )
    direction = cfg.direction or ("maximize" if cfg.objective is None else "minimize")
    deadline = meta.get("deadline")
    try:
        study = make_study(cfg, label, meta["run_id"], direction)
    except BenchError as exc:  # the storage: recorded as this run's failure, in one line
        runs_out.append({**base, "status": "failed", "reason": str(exc), "end": time.time()})
        return EXIT_FAILED
    # What decided the parameters and what could prune: the classes really in use.
    base["sampler"], base["pruner"] = type(study.sampler).__name__, type(study.pruner).__name__
    ctx = StrategyContext(
        label=label, settings=RunSettings.of(cfg), objective=objective, study=study, workers=workers,
        threads_policy=spec.threads_policy, threads=threads, start_method=spec.start_method,
        trial_timeout=cfg.trial_timeout, deadline=deadline,
        heartbeat_path=str(rd.file(HEARTBEATS_FILE)), trials_out=rd.appender(TRIALS_FILE),
        strategy=spec.strategy, search_space=space,
    )
    signalled: list[int] = []
    finished: list[int] = []
    finish_lock = threading.Lock()

    def finish(status: str, reason: str) -> int:
        """Record how the run ended, once (after the strategy returned, or from `ctx.exit_now`)."""
        with finish_lock:
            if not finished:
                finished.append(_finish(status, reason))
            return finished[0]

    def _finish(status: str, reason: str) -> int:
        if signalled and (status == "ok" or (status == "interrupted" and not reason)):
            status, reason = "interrupted", f"signal {signalled[0]}"
        elif status == "ok" and ctx.should_stop() and (ctx.asked < ctx.n_trials or ctx.cancelled):
            status, reason = "timeout", "the whole-run --timeout ended the run"
        ctx.cancel_pending(reason or "run ended before the trial finished")
        reason = redact(reason)  # a library's message may quote the storage URL
        end = time.time()
        runs_out.append({
            **base, "status": status, "reason": reason, "end": end, "wall": end - started,
            "threads": threads, "trials_asked": ctx.asked, "trials_told": ctx.told,
            "trials_cancelled": ctx.cancelled,
        })
        if signalled:
            return 128 + signalled[0]
        return {"ok": EXIT_OK, "timeout": EXIT_OK, "unavailable": EXIT_UNAVAILABLE}.get(
            status, EXIT_FAILED)

    def exit_now(status: str, reason: str) -> None:
        # Threads of this process that cannot be stopped would keep it alive (interpreter exit
        # joins them): write the record, then end without waiting for them.
        code = finish(status, reason)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    ctx.exit_now = exit_now

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # First signal: stop asking, let the strategy clean up its workers. Second: give up.
        signalled.append(signum)
        ctx.stop.set()
        if len(signalled) > 1:
            raise _InterruptedTwice()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if cls.kind in (Kind.INLINE, Kind.THREADS):
        # Trials run in this process: import torch / the objective now, at start-up, as every
        # worker process does before its first trial; else the first trial's clock includes it.
        thread_policy.apply(threads)
        preload(objective)
    strategy = cls()
    status, reason = "ok", ""
    try:
        strategy.run(ctx)
    except StrategyUnavailable as exc:
        status, reason = "unavailable", str(exc)
    except BenchError as exc:
        status, reason = "failed", str(exc)
    except _InterruptedTwice:  # raised by on_signal at the second signal only
        status, reason = "interrupted", (
            f"signal {signalled[0]}, then signal {signalled[-1]}: stopped without waiting for the trials")
    except WriteFailed:
        raise  # nothing more can be recorded; main says so in one line
    except Exception as exc:
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        sys.stderr.write(redact(traceback.format_exc()))
    return finish(status, reason)


def _process_start() -> float:
    import psutil

    return float(psutil.Process().create_time())


def main(argv: list[str] | None = None) -> int:
    # First thing: a `kill -9` of bench must end this process too (and, through their own
    # lifelines, every worker it starts).
    die_with_parent(parent_from_env())
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.run.child RESULTS_DIR LABEL", file=sys.stderr)
        return 2
    try:
        return run_child(Path(args[0]), args[1])
    except BenchError as exc:
        print(f"bench: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except WriteFailed:
        # The runner says what failed in its one line (it sees the same directory).
        return EXIT_WRITE_FAILED


if __name__ == "__main__":
    sys.exit(main())
