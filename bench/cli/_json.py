"""`--json PATH` (or `-` for stdout), the same for every command.

A command adds the flag with `add_json_argument(p)`, runs its human output inside
`human_output(args.json)` (which moves it to stderr when the document takes stdout), and ends
with `emit(doc, args.json)`. `emit_results(args.json, results_dir, command)` does the last step
for a results directory: `bench watch` needs only that one line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def add_json_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json", metavar="PATH", default=None,
        help="also write the results as JSON (schema: bench/data/results.schema.json) to PATH, "
        "or to stdout with '-' (the human output then goes to stderr)",
    )


@contextlib.contextmanager
def human_output(dest: str | None) -> Iterator[None]:
    """With `--json -`, everything printed for people goes to stderr: stdout is the document."""
    from bench.report.json_out import check_dest

    check_dest(dest)
    if dest != "-":
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def emit(doc: dict[str, Any], dest: str | None) -> None:
    from bench.report.json_out import write_json

    write_json(doc, dest)


def emit_results(dest: str | None, results_dir: str | Path, command: str) -> None:
    """The document of a finished results directory, when --json was given: the findings.json
    its report just wrote, or (no report) a fresh analysis of its records."""
    if dest is None:
        return
    from bench.report.json_out import FINDINGS_FILE, emit_findings, results_document

    if (Path(results_dir) / FINDINGS_FILE).is_file():
        emit_findings(results_dir, command, dest)
    else:
        emit(results_document(results_dir, command), dest)
