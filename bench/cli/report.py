"""`bench report RESULTS_DIR`: regenerate the markdown report and plots from saved results alone."""

from __future__ import annotations

import argparse

from bench.cli._json import add_json_argument, human_output


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "results_dir",
        metavar="RESULTS_DIR",
        help="a results directory written by bench compare/run",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="markdown file to write (default: RESULTS_DIR/report.md); plots go beside it",
    )
    p.add_argument(
        "--price-per-hour",
        dest="price_per_hour",
        type=float,
        metavar="X",
        help="$ per hour of the machine the results come from (default: the run's config)",
    )
    p.add_argument(
        "--prices",
        metavar="FILE",
        help="price catalog TOML: [[vm]] tables of name, vcpus, physical_cores, price_per_hour, "
        "currency, kind, region, as_of, source (default: the shipped bench/data/prices.toml)",
    )
    p.add_argument(
        "--sweep",
        metavar="SWEEP",
        action="append",
        help="a `bench sweep` directory or its sweep.json (repeatable): its fitted curves give the "
        "shape of every process row's projection (default: a sweep.json in RESULTS_DIR, if any)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line and the report path")
    add_json_argument(p)


def run(args: argparse.Namespace) -> int:
    from bench.report.json_out import emit_findings

    with human_output(args.json):
        code = report(
            args.results_dir, out=args.out, price_per_hour=args.price_per_hour, prices=args.prices,
            sweep=args.sweep, quiet=args.quiet,
        )
    emit_findings(args.out or args.results_dir, "report", args.json)
    return code


def report(
    results_dir: str,
    out: str | None = None,
    price_per_hour: float | None = None,
    prices: str | None = None,
    sweep: str | list[str] | None = None,
    quiet: bool = False,
) -> int:
    """Write the report; prints its path (and, quiet, the verdict line before it). Errors are
    BenchErrors with their exit codes."""
    from bench.report import write_report
    from bench.report.json_out import FINDINGS_FILE, read_document

    path = write_report(results_dir, out=out, price_per_hour=price_per_hour, prices=prices, sweep=sweep)
    if quiet:
        print(read_document(path.parent / FINDINGS_FILE).get("verdict_line") or "verdict: -")
    print(f"report: {path}")
    return 0
