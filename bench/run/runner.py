"""Runs a plan of strategy runs, each in its own child process, with probes and live progress."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench import __version__
from bench.config import SECRET_ENV, Config
from bench.config.labels import base_name
from bench.errors import Interrupted, ResultsError, ResultsWriteFailed
from bench.records.rundir import RUNS_FILE, SAMPLES_FILE, TRIALS_FILE, RunDir
from bench.records.schema import RunRow
from bench.run.guardian import Guardian
from bench.run.progress import Progress
from bench.run.reaper import Reaper, become_subreaper
from bench.trial.lifeline import PARENT_ENV
from probes.sink import JsonlSink, WriteFailed

# After the run deadline, how long a child gets to cancel its trials and write its record.
DEADLINE_GRACE_S = 10.0
# After SIGTERM to a child, how long before everything it started is killed.
TERM_GRACE_S = 3.0
# What the strategy children print (Ray's, loky's and Optuna's own warnings and log lines among
# it) lands here, in the results directory, instead of on the user's terminal, unless -v.
LOG_FILE = "bench.log"


@dataclass(frozen=True)
class RunOutcome:
    label: str
    status: str
    exit_code: int


def plan(cfg: Config, baseline: bool = True) -> list[str]:
    """The run labels in order; sequential first when a baseline is wanted."""
    labels = list(cfg.strategies)
    if baseline and "sequential" not in (base_name(label) for label in labels):
        labels.insert(0, "sequential")
    labels.sort(key=lambda label: 0 if base_name(label) == "sequential" else 1)
    return labels


def _child_env(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    for key, name in SECRET_ENV.items():
        env.pop(name, None)
        if getattr(cfg, key):
            env[name] = getattr(cfg, key)
    # The child must import this very checkout, also when run from another directory.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    # `python -m` would put the working directory first on sys.path: a threadpoolctl.py (or any
    # module named like one we import) there would shadow the real one in the child and in every
    # Python process it starts. A user objective's directory is appended by its loader instead.
    env["PYTHONSAFEPATH"] = "1"
    env[PARENT_ENV] = str(os.getpid())
    return env


@contextlib.contextmanager
def _signals_to(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def create_run_dir(cfg: Config, argv: list[str] | None = None, name: str | None = None) -> RunDir:
    from probes.machine import fingerprint, git_state
    from probes.redact import redact, redact_args

    rd = RunDir.create(cfg.out, name)
    started = time.time()
    config = cfg.to_dict()
    for key in SECRET_ENV:  # no database or cluster password on disk
        if config.get(key):
            config[key] = redact(str(config[key]))
    rd.write_meta({
        "run_id": uuid.uuid4().hex[:8],
        "created": started,
        "corebench_version": __version__,
        "command": redact_args(argv if argv is not None else sys.argv),
        "config": config,
        "machine": fingerprint(),
        "git": git_state(),
        "deadline": started + cfg.timeout if cfg.timeout else None,
        "plan": [],
    })
    return rd


def run_plan(
    cfg: Config, labels: list[str], rd: RunDir, *, live: bool | None = None,
    on_event: Callable[[str], None] | None = None, verbosity: int = 0,
) -> list[RunOutcome]:
    """Run each label in a child process; probes watch it; nothing outlives the call.

    verbosity -1: no progress or event lines; 0: progress, children's output to LOG_FILE;
    1: progress with a line per trial, children's output on this process's stdout/stderr."""
    from probes.session import ProbeSession

    meta = rd.meta()
    meta["plan"] = labels
    rd.write_meta(meta)
    become_subreaper()
    guardian = Guardian()  # kills what the run started should this process be killed (-9)
    reaper = Reaper(spare=(guardian.pid,))
    deadline: float | None = meta.get("deadline")
    signalled: list[int] = []
    current: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signalled.append(signum)
        for proc in current:  # the same signal, so the child records what the user sent
            with contextlib.suppress(OSError):
                proc.send_signal(signum)

    outcomes: list[RunOutcome] = []
    # keep_going: a full disk must not kill the sampler threads; it is checked after each run.
    sink = JsonlSink(rd.file(SAMPLES_FILE), keep_going=True)
    failed: WriteFailed | None = None
    say = on_event or (
        (lambda msg: None) if verbosity < 0 else (lambda msg: print(msg, file=sys.stderr, flush=True))
    )
    log = None if verbosity > 0 else open(rd.file(LOG_FILE), "ab")  # closed in the finally below
    try:
        with _signals_to(on_signal):
            for label in labels:
                if signalled:
                    break
                if deadline is not None and time.time() >= deadline:
                    say(f"[{label}] skipped: the run's --timeout is spent")
                    try:
                        rd.appender(RUNS_FILE).append({"run": label, "strategy": base_name(label),
                                                       "status": "skipped", "reason": "run timeout spent"})
                    except WriteFailed as exc:
                        failed = exc
                        break
                    continue
                if log is not None:  # one log for every run of the plan: say whose lines follow
                    log.write(f"--- [{label}] {time.strftime('%H:%M:%S')}\n".encode())
                    log.flush()
                # Its own process group: a terminal's Ctrl-C reaches this process only, which
                # forwards the signal once (the child would otherwise get two for one Ctrl-C).
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bench.run.child", str(rd.path), label], env=_child_env(cfg),
                    stdout=log, stderr=log, process_group=0,
                )
                current[:] = [proc]
                say(f"[{label}] started (pid {proc.pid})")

                with ProbeSession(
                    proc.pid, sink.append, interval=cfg.probe_interval,
                    stack_interval=cfg.stack_interval, stacks=cfg.stacks, tags={"run": label},
                ), (
                    contextlib.nullcontext() if verbosity < 0
                    else Progress(rd.path, label, cfg.trials, live=live, trial_lines=verbosity > 0)
                ):
                    code = _wait(proc, deadline, reaper, signalled)
                current.clear()
                reaper.kill_all(grace=TERM_GRACE_S)
                failed = _write_failure(rd, code, sink)
                if failed is not None:
                    outcomes.append(RunOutcome(label, "stopped", code))
                    break
                try:
                    status = _record_outcome(rd, label, code, signalled)
                except WriteFailed as exc:
                    failed = exc
                    break
                outcomes.append(RunOutcome(label, status, code))
                say(f"[{label}] {status}")
    finally:
        for proc in current:
            with contextlib.suppress(OSError):
                proc.kill()
        reaper.kill_all(grace=TERM_GRACE_S)
        guardian.close()
        if log is not None:
            log.close()
    try:
        meta = rd.meta()
        meta["end"] = time.time()
        meta["outcomes"] = [{"label": o.label, "status": o.status, "exit_code": o.exit_code} for o in outcomes]
        rd.write_meta(meta)
    except (OSError, ResultsError) as exc:
        failed = failed or WriteFailed(rd.run_file, exc if isinstance(exc, OSError) else OSError(str(exc)))
    if failed is not None:
        raise ResultsWriteFailed(_stopped_line(rd, failed, outcomes, labels))
    if signalled:
        raise Interrupted(signalled[0])
    return outcomes


def _wait(
    proc: subprocess.Popen[bytes], deadline: float | None, reaper: Reaper, signalled: list[int]
) -> int:
    term_sent_at: float | None = None
    while True:
        reaper.poll()
        try:
            return proc.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            pass
        now = time.time()
        if signalled and term_sent_at is None:
            term_sent_at = now
        if deadline is not None and now > deadline + DEADLINE_GRACE_S and term_sent_at is None:
            proc.send_signal(signal.SIGTERM)
            term_sent_at = now
        if term_sent_at is not None and now - term_sent_at > TERM_GRACE_S:
            reaper.kill_all(grace=1.0)
            proc.kill()
            return proc.wait()


def _write_failure(rd: RunDir, code: int, sink: JsonlSink) -> WriteFailed | None:
    """Why the results directory can no longer be written, if it cannot: the child said so, the
    probes' sink failed, or the directory is gone."""
    from bench.run.child import EXIT_WRITE_FAILED

    if sink.failure is not None:
        return sink.failure
    if not rd.path.is_dir():
        return WriteFailed(rd.path, FileNotFoundError(2, "the results directory was removed"))
    if code == EXIT_WRITE_FAILED:
        return WriteFailed(rd.path, _why_unwritable(rd.path))
    return None


def _why_unwritable(path: Path) -> OSError:
    """The likely cause, read from the filesystem the child failed to write to."""
    try:
        st = os.statvfs(path)
    except OSError as exc:
        return exc
    if st.f_flag & os.ST_RDONLY:
        return OSError(errno.EROFS, os.strerror(errno.EROFS))
    if st.f_bavail == 0 or st.f_favail == 0:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return OSError("the run's records could not be written")


def _stopped_line(rd: RunDir, failed: WriteFailed, outcomes: list[RunOutcome], labels: list[str]) -> str:
    """One line: what failed, where, and what was saved before it."""
    done = [o.label for o in outcomes if o.status != "stopped"]
    saved = {}
    for name in (TRIALS_FILE, SAMPLES_FILE):
        try:
            with rd.file(name).open("rb") as fh:
                saved[name] = sum(1 for _ in fh)
        except OSError:
            saved[name] = 0
    if not rd.path.is_dir():
        kept = "nothing kept: the results directory is gone"
    else:
        kept = (f"saved so far: {saved[TRIALS_FILE]} trial and {saved[SAMPLES_FILE]} sample records in {rd.path} "
                f"(`bench report {rd.path}` reads them)")
    return (f"run stopped: {failed} (runs finished: {len(done)} of {len(labels)}); {kept}")


def _record_outcome(rd: RunDir, label: str, code: int, signalled: list[int]) -> str:
    """The child writes its own record; if it died before that, write one for it."""
    for rec in reversed(rd.runs()):
        if rec.get("run") == label:
            return str(rec.get("status", "unknown"))
    status = "interrupted" if signalled else "crashed"
    rd.appender(RUNS_FILE).append({
        "run": label, "strategy": base_name(label), "status": status,
        "reason": f"runner process exited with code {code} before recording its result"
        + (f" (its output: {rd.file(LOG_FILE)})" if rd.file(LOG_FILE).exists() else ""),
        "end": time.time(),
    })
    return status


def load_runs(rd: RunDir) -> dict[str, RunRow]:
    """The last record per label (a label is run at most once per results dir)."""
    out: dict[str, RunRow] = {}
    for rec in rd.runs():
        out[str(rec.get("run"))] = rec
    return out
