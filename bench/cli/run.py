"""`bench run`: one strategy (no sequential baseline unless asked)."""

from __future__ import annotations

import argparse
import sys

from bench.cli._json import add_json_argument, emit_results, human_output
from bench.cli._options import add_search_arguments, add_verbosity_arguments, resolve_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", required=True, help="a strategy name or variant (pool@unlimited/spawn)")
    p.add_argument("--baseline", action="store_true", help="also run sequential, for a speedup figure")
    p.add_argument("--no-report", action="store_true", help="skip writing the markdown report")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask before a long run")
    add_verbosity_arguments(p)
    add_json_argument(p)
    add_search_arguments(p)


def run(args: argparse.Namespace) -> int:
    from bench.cli.compare import confirm_long_run, execute, finish
    from bench.records.rundir import check_out

    with human_output(args.json):
        cfg = resolve_config(args, strategies=args.strategy)
        check_out(cfg.out)  # a bad --out is exit 2 before a calibration trial or a run starts
        confirm_long_run(cfg, baseline=args.baseline, assume_yes=args.yes)
        rd = execute(cfg, name=args.name, argv=sys.argv, baseline=args.baseline, verbosity=args.verbosity)
        code = finish(rd, write_report=not args.no_report, verbosity=args.verbosity)
    emit_results(args.json, rd.path, "run")
    return code
