"""`bench watch [--out DIR] [--duration S] -- CMD [ARGS...]`: run your own program under the probes,
its Optuna trials traced from inside with no code change; exits with CMD's exit code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli._json import add_json_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", help="results directory (default reports/watch-<stamp>)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="end the watch after S seconds and leave CMD running (default: until it exits)")
    p.add_argument("--interval", type=float, default=0.5, metavar="S", help="process-tree sample period, s")
    p.add_argument("--stack-interval", dest="stack_interval", type=float, default=2.0, metavar="S",
                   help="py-spy stack sample period, s")
    p.add_argument("--no-stacks", dest="stacks", action="store_false", help="do not run py-spy")
    p.add_argument("--price-per-hour", dest="price_per_hour", type=float, metavar="X",
                   help="$ per hour of this machine, for the cost line")
    p.add_argument("--grace", type=float, default=5.0, metavar="S",
                   help="seconds CMD gets after Ctrl-C before SIGTERM, and after that before SIGKILL")
    p.add_argument("--no-report", dest="report", action="store_false", help="do not write report.md")
    add_json_argument(p)
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]", help="the program to run")


def run(args: argparse.Namespace) -> int:
    from bench.cli._json import emit_results, human_output
    from bench.watch import watch

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    with human_output(args.json):
        result = watch(
            cmd, out=Path(args.out) if args.out else None, duration=args.duration, stacks=args.stacks,
            interval=args.interval, stack_interval=args.stack_interval,
            price_per_hour=args.price_per_hour, grace=args.grace, report=args.report,
            # With `--json -` stdout is the document: the program's own output goes to stderr.
            cmd_stdout=sys.stderr.fileno() if args.json == "-" else None,
        )
    emit_results(args.json, result.out, "watch")
    return result.exit_code
