"""The process one strategy run lives in: `python -m bench.run.child RESULTS_DIR LABEL`.

Each strategy runs in a fresh interpreter so that one run's torch threads, Ray instance or
forked workers cannot leak into the next, and so the probes' root pid is exactly that run.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, cast

from bench.config import STORAGE_ENV, Config
from bench.config.labels import base_name, parse
from bench.errors import BenchError, StrategyUnavailable
from bench.records.rundir import HEARTBEATS_FILE, RUNS_FILE, TRIALS_FILE, RunDir
from bench.strategies import StrategyContext, get
from bench.strategies._study import join_study, make_sampler, open_storage
from bench.trial import threads as thread_policy
from bench.trial.execute import preload
from bench.workload.objective import objective_from_config
from probes.sink import WriteFailed

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3
# The results directory could not be written (disk full, removed, read-only): the runner stops
# the plan, since every later run would fail the same way.
EXIT_WRITE_FAILED = 4


def make_study(cfg: Config, label: str, run_id: str, direction: str) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = make_sampler(cfg.sampler, cfg.sampler_seed)
    if cfg.storage and cfg.study_name and base_name(label) == "optuna-journal":
        # --study-name: the study other processes (other machines) share; a baseline run
        # beside it keeps a study of its own.
        return join_study(cfg.storage, cfg.study_name, direction, sampler)
    return optuna.create_study(
        storage=open_storage(cfg.storage) if cfg.storage else None, sampler=sampler,
        direction=cast(Any, direction),
        study_name=f"{run_id}-{label}", load_if_exists=False,
    )


def run_child(run_dir: Path, label: str) -> int:
    rd = RunDir(run_dir)
    meta = rd.meta()
    cfg = Config.from_dict(meta["config"])
    if os.environ.get(STORAGE_ENV):  # the unmasked URL: run.json holds it with the password masked
        cfg = dataclasses.replace(cfg, storage=os.environ[STORAGE_ENV])
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
    }
    avail = cls.available()
    objective = objective_from_config(cfg)
    space = None
    if avail.ok and cls.needs_search_space:
        space = objective.search_space()
        if space is None:
            avail = avail.__class__(
                False, "the objective is define-by-run with no declared search_space; "
                "use optuna-journal or optuna-threads, or give the function a search_space",
            )
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
    ctx = StrategyContext(
        label=label, config=cfg, objective=objective,
        study=make_study(cfg, label, meta["run_id"], direction), workers=workers,
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
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if cls.kind in ("inline", "threads"):
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
    except KeyboardInterrupt:
        status, reason = "interrupted", "interrupted twice"
    except WriteFailed:
        raise  # nothing more can be recorded; main says so in one line
    except Exception as exc:
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    return finish(status, reason)


def _process_start() -> float:
    import psutil

    return float(psutil.Process().create_time())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.run.child RESULTS_DIR LABEL", file=sys.stderr)
        return 2
    try:
        return run_child(Path(args[0]), args[1])
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return exc.exit_code
    except WriteFailed:
        # The runner says what failed in its one line (it sees the same directory).
        return EXIT_WRITE_FAILED


if __name__ == "__main__":
    sys.exit(main())
