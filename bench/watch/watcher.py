"""`bench watch -- CMD`: start CMD, probe it from its first instant to its exit, trace its Optuna
trials from inside, show it live, then diagnose and write the report. The exit code is CMD's."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bench.errors import ConfigError
from bench.watch import results
from bench.watch.live import LiveState, plain_every
from bench.watch.process import Command, exit_code, group_members, stop_leftovers

TICK_S = 0.1  # how often the wait loop checks the command, escalation and the plain line


@dataclass(frozen=True)
class WatchResult:
    """Where the results are, what CMD returned (None while it runs on), and bench's exit code."""

    out: Path
    returncode: int | None
    exit_code: int
    left_running: bool
    meta: dict[str, Any]


def _validate(duration: float | None, interval: float, stack_interval: float, grace: float,
              price_per_hour: float | None) -> None:
    for name, value in (("--interval", interval), ("--stack-interval", stack_interval),
                        ("--grace", grace), ("--duration", duration), ("--price-per-hour", price_per_hour)):
        if value is not None and not value > 0:
            raise ConfigError(f"{name} must be a positive number, got {value:g}")


def _prewarm_report() -> None:
    """Import the report's plotting library while the command runs, at the lowest CPU priority
    (this thread only), so the report is written within seconds of the command's exit instead of
    after a multi-second matplotlib import."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401

        import bench.report  # noqa: F401
    except Exception:
        pass  # the report imports them itself


class _Signals:
    """SIGINT/SIGTERM/SIGHUP to bench are forwarded to the command (main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.cmd: Command | None = None
        self.received: list[int] = []
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.received.append(signum)
        if self.cmd is not None:
            self.cmd.interrupt(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _meta(argv: Sequence[str], out: Path, interval: float, stack_interval: float, stacks: bool,
          price_per_hour: float | None, grace: float) -> dict[str, Any]:
    from bench import __version__
    from bench.records.rundir import SCHEMA_VERSION
    from probes.machine import fingerprint, git_state
    from probes.redact import redact_args

    return {
        "schema_version": SCHEMA_VERSION, "kind": "watch", "command": redact_args(list(argv)),
        "created": time.time(), "corebench_version": __version__,
        "cwd": os.getcwd(), "machine": fingerprint(include_torch=False), "git": git_state(),
        "plan": [results.LABEL], "interval": interval, "stack_interval": stack_interval, "stacks": stacks,
        "grace": grace, "config": {"price_per_hour": price_per_hour} if price_per_hour else {},
        "start": None, "end": None, "out": str(out),
    }


def _wait(cmd: Command, live: LiveState, stream: TextIO, duration: float | None,
          first_line: Callable[[], object]) -> bool:
    """Until CMD exits (False) or `duration` ends the watch (True), showing what is seen."""
    end = None if duration is None else cmd.started + duration
    tty = stream.isatty()
    view: Any = None
    if tty:
        from rich.console import Console
        from rich.live import Live

        view = Live(live.table(), console=Console(file=stream), refresh_per_second=4, transient=True)
        view.start()
    next_line: float | None = None
    try:
        while cmd.poll() is None:
            if end is not None and time.time() >= end:
                return True
            cmd.tick()
            live.poll()
            now = time.time()
            if live.last_tree is not None and next_line is None:
                next_line = now
                first_line()
            if view is not None:
                view.update(live.table(now))
            elif next_line is not None and now >= next_line:
                print(live.line(now), file=stream, flush=True)
                next_line = now + plain_every(now - cmd.started)
            cmd.wait(TICK_S)
        return False
    finally:
        if view is not None:
            view.stop()


def watch(
    argv: Sequence[str],
    *,
    out: Path | None = None,
    duration: float | None = None,
    stacks: bool = True,
    interval: float = 0.5,
    stack_interval: float = 2.0,
    price_per_hour: float | None = None,
    grace: float = 5.0,
    report: bool = True,
    stream: TextIO | None = None,
    cmd_stdout: int | None = None,
) -> WatchResult:
    """Run `argv` under the probes and the trial tracer; returns where the results are.
    `cmd_stdout` is a file descriptor for the program's stdout (default: bench's own)."""
    from bench.records.rundir import SAMPLES_FILE
    from bench.run.guardian import Guardian
    from bench.run.reaper import become_subreaper
    from bench.trial.tracer import traced_env
    from probes.sink import JsonlSink

    stream = stream or sys.stderr
    _validate(duration, interval, stack_interval, grace, price_per_hour)
    if not argv:
        raise ConfigError("bench watch needs a command after `--`, e.g. `bench watch -- python x.py`")
    rd = results.create(out)
    meta = _meta(argv, rd.path, interval, stack_interval, stacks, price_per_hour, grace)
    rd.write_meta(meta)  # a kill of bench itself still leaves a readable directory
    sink = JsonlSink(rd.file(SAMPLES_FILE))
    env = traced_env(os.environ, rd.path, results.LABEL)
    timing: dict[str, float] = {}

    become_subreaper()  # orphans of the command come back to bench, to be stopped at the end
    # Should bench itself be killed (-9), the guardian ends the command and all it started.
    guardian = Guardian()
    try:
        return _watch(argv, rd, meta, sink, env, timing, stream, duration, stacks, interval,
                      stack_interval, price_per_hour, grace, report, cmd_stdout, guardian.pid)
    finally:
        guardian.close()


def _watch(argv: Sequence[str], rd: Any, meta: dict[str, Any], sink: Any, env: dict[str, str],
           timing: dict[str, float], stream: TextIO, duration: float | None, stacks: bool,
           interval: float, stack_interval: float, price_per_hour: float | None, grace: float,
           report: bool, cmd_stdout: int | None, guardian_pid: int | None) -> WatchResult:
    from probes.session import ProbeSession

    if report:
        threading.Thread(target=_prewarm_report, name="bench-prewarm", daemon=True).start()
    with _Signals() as sigs:
        cmd = Command(argv, env, grace, stdout=cmd_stdout)
        sigs.cmd = cmd
        meta["start"], meta["pid"] = cmd.started, cmd.pid
        rd.write_meta(meta)
        live = LiveState(rd.path, cmd.started)

        def record(rec: dict[str, Any]) -> None:
            sink(rec)
            live.add_sample(rec)

        print(f"bench watch: pid {cmd.pid} `{shlex.join(meta['command'])}` -> {rd.path}", file=stream, flush=True)
        left_running = False
        try:
            with ProbeSession(cmd.pid, record, interval=interval, stack_interval=stack_interval,
                              stacks=stacks, tags={"run": results.LABEL},
                              extra_pids_fn=lambda: group_members(cmd.pgid)):
                left_running = _wait(cmd, live, stream, duration,
                                     lambda: timing.setdefault("first_live_s", time.time() - cmd.started))
        finally:
            if not left_running:
                # Whatever happened in bench, the command does not outlive the watch.
                if cmd.poll() is None:
                    cmd.interrupt(signal.SIGTERM, "bench stopped")
                    while cmd.wait(TICK_S) is None:
                        cmd.tick()
                seen = {int(p["pid"]) for s in live.samples if s.get("kind") == "tree"
                        for p in s.get("procs") or [] if p.get("pid")}
                meta["leftovers_stopped"] = stop_leftovers(cmd.pgid, seen, cmd.started,
                                                           spare=(guardian_pid,))
    return _finish(rd, meta, cmd, left_running, live, price_per_hour, report, timing, stream)


def _finish(rd: Any, meta: dict[str, Any], cmd: Command, left_running: bool, live: LiveState,
            price_per_hour: float | None, report: bool, timing: dict[str, float],
            stream: TextIO) -> WatchResult:
    from bench.records.rundir import RUNS_FILE
    from bench.report.watch import rate
    from bench.watch.verdict import diagnose_watch, print_summary

    end = time.time() if left_running else (cmd.ended or time.time())
    rc = None if left_running else cmd.poll()
    reason = ""
    if not left_running:
        reason = (f"the program ended (exit status {exit_code(rc or 0)}) before the trial did"
                  if rc is not None else "")
    trials, events, in_flight = results.close_trials(rd, end, reason)
    hook = results.read_hook(events)
    interrupted = cmd.stop.sent is not None
    run = results.run_record(start=cmd.started, end=end, returncode=rc, trials=trials, hook=hook,
                             left_running=left_running, interrupted=interrupted)
    rd.appender(RUNS_FILE).append(run)
    meta["end"], meta["duration"] = end, round(end - cmd.started, 3)
    meta["watch"] = {
        "returncode": rc, "exit_code": None if rc is None else exit_code(rc), "left_running": left_running,
        "stop": {"reason": cmd.stop.reason, "signals": cmd.stop.sent} if interrupted else None,
        "hook": hook.to_dict(), **results.trial_figures(trials),
        "in_flight_at_end": in_flight,
        "cost": rate(trials, price_per_hour), **timing,
    }
    rd.write_meta(meta)
    findings = diagnose_watch(rd.path)
    meta["findings"] = [f.to_dict() for f in findings]
    if report:
        from bench.report import write_report

        try:
            meta["report"] = str(write_report(rd.path))
        except Exception as exc:  # the records are on disk whatever the renderer does
            print(f"bench watch: report skipped ({type(exc).__name__}: {exc})", file=stream)
    if cmd.ended is not None:
        meta["watch"]["report_s"] = round(time.time() - cmd.ended, 3)
    rd.write_meta(meta)
    print_summary(meta, findings, rd.path, stream)
    code = 0 if rc is None else exit_code(rc)
    return WatchResult(rd.path, rc, code, left_running, meta)
