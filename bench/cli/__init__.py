"""`bench` command line: one module per subcommand, one exit point."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from typing import NoReturn, TextIO

from bench import __version__
from bench.errors import BenchError

# name -> (module, one-line help); modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "compare": ("bench.cli.compare", "run the search under several strategies and compare them"),
    "run": ("bench.cli.run", "run the search under one strategy"),
    "strategies": ("bench.cli.strategies", "list strategies and whether they can run here"),
    "report": ("bench.cli.report", "regenerate the markdown report from a results directory"),
    "gate": ("bench.cli.gate", "fail (exit 1) when a results directory regresses"),
    "attach": ("bench.cli.attach", "probe a live process: processes, threads, CPU, GIL"),
    "watch": ("bench.cli.watch", "run your own program under the probes, its Optuna trials traced"),
    "sweep": ("bench.cli.sweep", "sweep strategies over worker counts, fit a scaling model to each"),
    "diff": ("bench.cli.diff", "compare two results directories against their own noise"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2, without the usage dump."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(BenchError):
    pass


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="Why doesn't my parallel search use my cores?")
    parser.add_argument("--version", action="version", version=f"corebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


# Exit code of a defect in corebench itself: not 1, which `bench gate` and a stopped run use, and
# not 2, which says the input was bad.
EXIT_INTERNAL = 3
DEBUG_ENV = "BENCH_DEBUG"


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Warnings corebench gives the user (lines skipped in a results file) as one line each,
    `bench: warning: ...`, whatever the warning filters say (pytest's "error" included)."""
    from bench.records.rundir import SkippedLinesWarning

    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            if issubclass(category, SkippedLinesWarning):
                # The first bad line's reason may quote a damaged file's keys: one line anyway.
                print(f"bench: warning: {_one_line(str(message))}", file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("always", SkippedLinesWarning)
        yield


def _one_line(text: str) -> str:
    """`text` as one line with no password in it, whatever it holds: a multi-line library error,
    a URL's password, control characters from a damaged file. str.split breaks at every character
    splitlines would (\\x1c-\\x1f, \\u2028 ...); what else is not printable (an escape sequence
    for the terminal, a NUL) is shown escaped."""
    from probes.redact import redact

    line = " ".join(redact(text).split())
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in line)


def main(argv: list[str] | None = None) -> int:
    """Parse, dispatch, and turn every BenchError into one line on stderr and its exit code."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in args_list if a in COMMANDS), None)
    try:
        with _warnings_as_lines():
            parser = build_parser(command)
            args = parser.parse_args(args_list)
            if args.command is None:
                parser.print_help()
                return 2
            module = importlib.import_module(COMMANDS[args.command][0])
            return int(module.run(args))
    except BenchError as exc:
        print(f"bench: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A bug, not bad input: still one line (CI must not read it as a regression, exit 1),
        # with the traceback when asked for.
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        print(f"bench: internal error: {type(exc).__name__}: {_one_line(str(exc)[:300])} "
              f"(a corebench bug; {DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def console_main() -> NoReturn:
    sys.exit(main())
