"""`bench compare`: the same search under each strategy, then the summary and the report."""

from __future__ import annotations

import argparse
import sys

from bench.cli._json import add_json_argument, emit_results, human_output
from bench.cli._options import add_search_arguments, add_verbosity_arguments, print_checked, resolve_config
from bench.config import Config
from bench.errors import ConfigError, ResultsError, ResultsWriteFailed
from bench.records.rundir import RunDir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strategies", default=None,
        help="comma list of strategies, 'all', or variants name@threads/start (e.g. pool@unlimited); "
        "default: the config file's `strategies`, else all",
    )
    p.add_argument("--no-report", action="store_true", help="skip writing the markdown report")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask before a long run")
    add_verbosity_arguments(p)
    add_json_argument(p)
    add_search_arguments(p)


# Runs bigger than the default preset get a calibrated duration estimate first; past this
# many seconds the user is asked to confirm (or passes --yes).
LONG_RUN_S = 15 * 60


def confirm_long_run(cfg: Config, baseline: bool, assume_yes: bool) -> None:
    """Estimate the duration of a big run from a calibration trial and ask before starting it."""
    from bench.config import PRESETS
    from bench.run.calibrate import estimate_duration, format_duration

    if cfg.objective is not None:
        # Calibrating would run the user's objective once here, maybe for a long time: don't.
        return
    d = PRESETS["default"]
    size = cfg.trials * cfg.generations * cfg.population * cfg.seeds
    if size <= d["trials"] * d["generations"] * d["population"] * d["seeds"]:
        return
    seconds = estimate_duration(cfg, baseline=baseline)
    print(f"estimated duration: {format_duration(seconds)} (from a calibration trial)", file=sys.stderr)
    if seconds <= LONG_RUN_S or assume_yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(
            f"this run is estimated at {format_duration(seconds)}; pass --yes to start it without a prompt"
        )
    answer = input(f"Run for about {format_duration(seconds)}? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ConfigError("cancelled at the duration prompt; nothing was started")


def run(args: argparse.Namespace) -> int:
    # 'all' only when neither the flag nor a config file names strategies; `--strategies ''`
    # is typed, and refused as naming none.
    cfg = resolve_config(args, strategies=args.strategies, defaults={"strategies": "all"})
    if args.check:
        return print_checked(cfg)
    with human_output(args.json):
        confirm_long_run(cfg, baseline=True, assume_yes=args.yes)
        rd = execute(cfg, name=args.name, argv=sys.argv, verbosity=args.verbosity)
        code = finish(rd, write_report=not args.no_report, verbosity=args.verbosity)
    emit_results(args.json, rd.path, "compare")
    return code


def execute(
    cfg: Config, name: str | None = None, argv: list[str] | None = None, baseline: bool = True,
    verbosity: int = 0,
) -> RunDir:
    """Run the plan into a new results directory. verbosity -1 (-q): no progress; 0: progress,
    third-party output to the results directory's log; 1 (-v): per-trial lines and that output."""
    from bench.run import runner
    rd = runner.create_run_dir(cfg, argv, name)
    if verbosity >= 0:
        print(f"results: {rd.path}", file=sys.stderr)
    runner.run_plan(cfg, runner.plan(cfg, baseline=baseline), rd, verbosity=verbosity)
    return rd


def _log_tail(rd: RunDir, lines: int = 15) -> None:
    """The end of the children's log, where a broken run's traceback is (not shown with -v:
    it went to the terminal already)."""
    from bench.run.runner import LOG_FILE

    try:
        text = rd.file(LOG_FILE).read_text(errors="replace").strip()
    except OSError:
        return
    if text:
        print(f"bench: last lines of {rd.file(LOG_FILE)}:", file=sys.stderr)
        print("\n".join(text.splitlines()[-lines:]), file=sys.stderr)


def finish(rd: RunDir, write_report: bool = True, verbosity: int = 0) -> int:
    from bench.cli.render import print_summary

    if verbosity >= 0:
        print_summary(rd)
    if write_report:
        from bench.report import write_report as render

        try:
            path = render(rd.path)
        except ResultsError as exc:
            # The run itself is saved; only its report could not be written.
            raise ResultsWriteFailed(
                f"report not written: {exc}; the results are saved: `bench report {rd.path}` writes it"
            ) from None
        if verbosity < 0:
            from bench.report.json_out import FINDINGS_FILE, read_document

            print(read_document(path.parent / FINDINGS_FILE).get("verdict_line") or "verdict: -")
        print(f"report: {path}")
    elif verbosity < 0:
        from bench.analysis.diagnose import Recorded, analyse
        from bench.report.oneline import verdict_line

        print(verdict_line(analyse(Recorded.load(rd.path))))
    # A strategy that could not run here is reported and skipped; one that broke is an error.
    broken = [r for r in rd.runs() if r.get("status") in ("failed", "crashed")]
    for r in broken:
        print(f"bench: run {r.get('run')} {r.get('status')}: {r.get('reason')}", file=sys.stderr)
    if broken:
        _log_tail(rd)
    return 1 if broken else 0
