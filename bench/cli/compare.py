"""`bench compare`: the same search under each strategy, then the summary and the report."""

from __future__ import annotations

import argparse
import sys

from bench.cli._options import add_search_arguments, resolve_config
from bench.config import Config
from bench.results import RunDir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strategies", default=None,
        help="comma list of strategies, 'all', or variants name@threads/start (e.g. pool@unlimited)",
    )
    p.add_argument("--no-report", action="store_true", help="skip writing the markdown report")
    add_search_arguments(p)


def run(args: argparse.Namespace) -> int:
    cfg = resolve_config(args, strategies=args.strategies or "all")
    rd = execute(cfg, name=args.name, argv=sys.argv)
    return finish(rd, write_report=not args.no_report)


def execute(cfg: Config, name: str | None = None, argv: list[str] | None = None, baseline: bool = True) -> RunDir:
    from bench import runner

    rd = runner.create_run_dir(cfg, argv, name)
    print(f"results: {rd.path}", file=sys.stderr)
    runner.run_plan(cfg, runner.plan(cfg, baseline=baseline), rd)
    return rd


def finish(rd: RunDir, write_report: bool = True) -> int:
    from bench.cli.render import print_summary

    print_summary(rd)
    if write_report:
        from bench.report import write_report

        path = write_report(rd.path)
        print(f"report: {path}")
    return 0
