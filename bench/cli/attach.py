"""`bench attach --pid P`: run the probes against any live process (the user's own stuck job),
diagnose it with the same rules as `bench compare`, print the verdict first, and write run.json,
samples.jsonl and report.md (bench.report.live) like a strategy run does."""

from __future__ import annotations

import argparse
import io
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from bench.cli._attach_target import check_target
from bench.cli._attach_view import LiveTotals, print_summary, watch_until
from bench.errors import ConfigError, Interrupted, ProbeError

T = TypeVar("T")
SAMPLES = "samples.jsonl"
RUN_JSON = "run.json"
TAG = {"run": "attach"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pid", type=int, required=True, help="process to watch (and its descendants)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to sample (default 10)")
    p.add_argument("--until-exit", dest="until_exit", action="store_true",
                   help="watch until the process ends (Ctrl-C ends the watch, the report is written)")
    p.add_argument("--interval", type=float, default=0.5, help="process-tree sample period, s")
    p.add_argument("--stack-interval", dest="stack_interval", type=float, default=2.0,
                   help="py-spy stack sample period, s")
    p.add_argument("--no-stacks", dest="stacks", action="store_false",
                   help="do not run py-spy (no ptrace needed)")
    p.add_argument("--out", help="output directory (default reports/attach-<pid>-<stamp>)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line and the report path")
    from bench.cli._json import add_json_argument

    add_json_argument(p)


def run(args: argparse.Namespace) -> int:
    from bench.cli._json import emit, human_output

    with human_output(args.json):
        path = attach(
            args.pid, duration=args.duration, interval=args.interval,
            stack_interval=args.stack_interval, stacks=args.stacks,
            out=Path(args.out) if args.out else None, until_exit=args.until_exit, quiet=args.quiet,
        )
    if args.json is not None:
        emit(attach_document(path), args.json)
    return 0


def attach_document(path: Path) -> dict[str, Any]:
    """An attach's results document: its findings and probe summary, from its run.json."""
    from bench.records.rundir import load_meta
    from bench.report.json_out import envelope, finding_dict, plain

    meta = load_meta(path)
    doc = envelope("attach", path, meta)
    doc["findings"] = [finding_dict(f) for f in meta.get("findings") or []]
    doc["attach"] = {"pid": meta.get("pid"), "duration": meta.get("duration"),
                     "cmdline": meta.get("cmdline"), "verdict": meta.get("verdict"),
                     "until_exit": bool(meta.get("until_exit")),
                     "summary": plain(meta.get("summary") or {})}
    return doc


def _validate(duration: float, interval: float, stack_interval: float) -> None:
    for name, value in (("--duration", duration), ("--interval", interval),
                        ("--stack-interval", stack_interval)):
        if not value > 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value}")
    if interval > duration:
        raise ConfigError(f"--interval ({interval:g} s) is longer than --duration ({duration:g} s)")


def _out_dir(pid: int, out: Path | None) -> Path:
    path = out or Path("reports") / f"attach-{pid}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (path / SAMPLES).exists():
        raise ConfigError(f"{path} already holds {SAMPLES}; choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {path}: {exc.strerror}") from None
    return path


def _cmdline(pid: int) -> str:
    import psutil

    from probes.redact import redact_cmdline

    try:
        return redact_cmdline(psutil.Process(pid).cmdline(), limit=500)
    except psutil.Error:
        return ""


# --- diagnosis and report ------------------------------------------------------------------
def _guarded(what: str, fn: Callable[[], T]) -> T | None:
    """fn(), or None with one line on stderr: the samples are on disk whatever diagnosis or the
    report do, and must not be hidden by a traceback."""
    try:
        return fn()
    except Exception as exc:  # diagnosis must not cost the user the recording
        print(f"bench attach: {what} skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


# --- the command ----------------------------------------------------------------------------
def attach(
    pid: int,
    *,
    duration: float = 10.0,
    interval: float = 0.5,
    stack_interval: float = 2.0,
    stacks: bool = True,
    out: Path | None = None,
    stream: TextIO | None = None,
    until_exit: bool = False,
    quiet: bool = False,
) -> Path:
    """Sample `pid` and its descendants for `duration` seconds (until it exits with `until_exit`;
    less if it exits first), diagnose it and write its report; returns the output directory.
    Ctrl-C ends the watch: the report is still written (and with `until_exit` that is the
    ordinary way to end it, exit 0). `quiet`: only the verdict line and the report path."""
    from bench.analysis.diagnose import LIVE
    from bench.records.rundir import RUNS_FILE, SCHEMA_VERSION, write_json_atomic
    from probes.machine import fingerprint, git_state
    from probes.session import ProbeSession
    from probes.sink import JsonlSink
    from probes.summary import summarize

    stream = stream or sys.stdout
    # Everything but the verdict and the report path: what -q leaves out.
    chatter: TextIO = io.StringIO() if quiet else stream
    _validate(duration, interval, stack_interval)
    if until_exit:
        duration = math.inf
    warnings = check_target(pid, stacks)
    path = _out_dir(pid, out)
    for w in warnings:
        print(f"bench attach: {w}", file=chatter)
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "kind": "attach", "pid": pid, "cmdline": _cmdline(pid),
        # the target's usable cores: its affinity and its own cgroup's quota, not bench's
        "machine": fingerprint(include_torch=False, pid=pid), "git": git_state(),
        "interval": interval, "stack_interval": stack_interval, "stacks": stacks,
        "until_exit": until_exit, "plan": [TAG["run"]],
        "start": time.time(), "end": None, "duration": None,
    }
    write_json_atomic(path / RUN_JSON, meta)  # a kill mid-way still leaves a readable result
    # One run record, so the directory reads like any results directory (bench report works).
    JsonlSink(path / RUNS_FILE)({
        "run": TAG["run"], "strategy": "attach", "status": LIVE, "workers": 1, "pid": pid,
        "start": meta["start"],
    })
    sink = JsonlSink(path / SAMPLES)
    live = LiveTotals()

    def record(rec: dict[str, Any]) -> None:
        sink(rec)
        live.add(rec)

    tty = chatter.isatty()
    interrupted: int | None = None
    span = "until it exits (Ctrl-C ends the watch)" if until_exit else f"for {duration:g} s"
    print(f"bench attach: watching pid {pid} {span} -> {path}", file=chatter, flush=True)
    try:
        with ProbeSession(pid, record, interval=interval, stack_interval=stack_interval,
                          stacks=stacks, tags=TAG):
            try:
                watch_until(duration, live, chatter, tty, pid)
            except KeyboardInterrupt:  # stop the samplers in order, then report
                interrupted = signal.SIGINT
    except KeyboardInterrupt:  # a second Ctrl-C while the samplers stopped
        interrupted = signal.SIGINT
    meta["end"] = time.time()
    meta["duration"] = round(meta["end"] - meta["start"], 3)
    with live.lock:
        samples = list(live.samples)
    summary = summarize(samples)
    meta["summary"] = summary
    if interrupted is not None:
        meta["interrupted"] = True
    write_json_atomic(path / RUN_JSON, meta)
    if not os.path.exists(path / SAMPLES):
        raise ProbeError(f"no samples were recorded: process {pid} exited before the first one")
    from bench.report.live import diagnose_live, report_live

    # The verdict first, as soon as the watch ends; the report (plots take seconds) after it.
    diagnosed = _guarded("diagnosis", lambda: diagnose_live(path))
    if diagnosed is not None:
        d, findings, verdict = diagnosed
        meta["findings"] = [f.to_dict() for f in findings]
        meta["verdict"] = verdict
        write_json_atomic(path / RUN_JSON, meta)
        print(f"Verdict: {_plain(verdict)}", file=stream, flush=True)
    print_summary(summary, meta.get("findings", []), path, chatter)
    if diagnosed is not None:
        report = _guarded("report", lambda: report_live(path, diagnosis=diagnosed[0]))
        if report is not None:
            print(f"report: {report.path}", file=stream, flush=True)
    if interrupted is not None and not until_exit:
        raise Interrupted(interrupted)
    return path


def _plain(markdown: str) -> str:
    """A markdown sentence for the terminal: no bold marks or code ticks."""
    return markdown.replace("**", "").replace("`", "")
