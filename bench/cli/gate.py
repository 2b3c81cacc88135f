"""`bench gate RESULTS_DIR`: exit 1 when measured ratios break the rules, 0 when they hold."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.cli._json import add_json_argument, emit, human_output
from bench.errors import ConfigError, GateNothingChecked, ResultsError
from bench.records.files import read_toml
from bench.records.rundir import load_meta


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="results directory of a `bench compare`")
    p.add_argument("--baseline", help="an earlier results directory to compare ratios against (max_drop)")
    p.add_argument("--config", help="TOML with [gate] or [tool.bench.gate] (default: ./bench.toml, ./pyproject.toml)")
    p.add_argument("--summary", help="write the markdown summary here (default: RESULTS/gate.md)")
    p.add_argument("--allow-different-machine", action="store_true",
                   help="compare with a baseline from another machine shape (ratios may not be comparable)")
    p.add_argument("--junit", metavar="PATH",
                   help="also write the checks as JUnit XML (one test case per check) for CI")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only the verdict line, not the markdown summary")
    add_json_argument(p)


def load_gate_table(config: str | None, cwd: Path) -> tuple[str, dict[str, Any]]:
    candidates = [Path(config)] if config else [cwd / "bench.toml", cwd / "pyproject.toml"]
    for path in candidates:
        if not path.is_file():
            if config:
                raise ConfigError(f"gate rule file {config} does not exist")
            continue
        data = read_toml(path, "gate rule file", ConfigError)
        tool = data.get("tool")
        bench = tool.get("bench") if isinstance(tool, dict) else None
        table = bench.get("gate") if isinstance(bench, dict) and "gate" in bench else data.get("gate")
        if table is not None:
            return str(path), table
        if config:
            raise ConfigError(f"{path} has no [gate] or [tool.bench.gate] table")
    raise ConfigError(
        "no gate rules: add [tool.bench.gate] to pyproject.toml or [gate] to bench.toml, or pass --config"
    )


def run(args: argparse.Namespace) -> int:
    with human_output(args.json):
        code, doc = _run(args)
    emit(doc, args.json)
    return code


def _run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from bench.analysis.diagnose import Recorded, analyse, run_metrics
    from bench.analysis.gate import ALL_INCONCLUSIVE, NOTHING_CHECKED, evaluate, parse_rules, verdict
    from bench.report.cells import md
    from bench.report.gate_md import render_markdown

    _check_writable(args.junit, "--junit")
    source, table = load_gate_table(args.config, Path.cwd())
    rules = parse_rules(table, source)
    meta = load_meta(args.results)
    diagnosis = analyse(Recorded.load(args.results))
    metrics = run_metrics(diagnosis)
    base_metrics = None
    title = f"Results: {md(args.results, code=True)} · rules: {md(source, code=True)}"
    if args.baseline:
        base_meta = load_meta(args.baseline)
        mine, theirs = meta.get("machine", {}), base_meta.get("machine", {})
        if mine.get("id") != theirs.get("id") and not args.allow_different_machine:
            raise ResultsError(
                f"baseline {args.baseline} ran on another machine shape "
                f"({theirs.get('usable_cores')} vs {mine.get('usable_cores')} usable cores, "
                f"{theirs.get('cpu_model')!r}); ratios are not comparable. "
                "Pass --allow-different-machine to compare anyway"
            )
        base_metrics = run_metrics(args.baseline)
        title += f" · baseline: {md(args.baseline, code=True)}"
    checks = evaluate(rules, metrics, base_metrics)
    text = render_markdown(checks, title)
    if args.quiet:
        doubtful = sum(bool(c.inconclusive) for c in checks)
        print(f"gate: {verdict(checks)}: {sum(c.result == 'pass' for c in checks)} of "
              f"{len(checks)} checks passed" + (f", {doubtful} inconclusive" if doubtful else ""))
    else:
        print(text)
    out = Path(args.summary) if args.summary else Path(args.results) / "gate.md"
    try:
        out.write_text(text)
    except OSError as exc:
        raise ConfigError(f"cannot write gate summary {out}: {exc.strerror}") from None
    _ci_outputs(args, checks, text, source, meta)
    from bench.report.json_out import diagnosis_document, gate_section

    doc = diagnosis_document(diagnosis, "gate")
    doc["gate"] = gate_section(checks, source, args.baseline)
    outcome = verdict(checks)
    if outcome == "nothing checked":
        # Not a regression (exit 1) but a gate that cannot say anything: bad input, exit 2.
        raise GateNothingChecked(f"gate: {NOTHING_CHECKED}")
    if outcome == "inconclusive":
        raise GateNothingChecked(f"gate: {ALL_INCONCLUSIVE}")
    return (1 if outcome == "regression" else 0), doc


def _check_writable(dest: str | None, flag: str) -> None:
    if dest is not None and not Path(dest).expanduser().resolve().parent.is_dir():
        raise ConfigError(f"{flag} {dest}: its directory does not exist")


def _ci_outputs(args: argparse.Namespace, checks: list[Any], text: str, source: str,
                meta: Mapping[str, Any]) -> None:
    """JUnit XML when asked; under GitHub Actions, annotations and the step summary too."""
    import sys

    from bench.report import ci

    if args.junit:
        xml = ci.junit_xml(checks, {"results": str(args.results), "rules": source,
                                    "machine": str((meta.get("machine") or {}).get("id", ""))})
        try:
            Path(args.junit).write_text(xml)
        except OSError as exc:
            raise ConfigError(f"cannot write --junit {args.junit}: {exc.strerror}") from None
    if not ci.in_github_actions():
        return
    rules_file = None
    if Path(source).is_file():  # annotations name files relative to the checkout
        here = Path.cwd().resolve()
        rules_file = str(Path(source).resolve())
        if Path(rules_file).is_relative_to(here):
            rules_file = str(Path(rules_file).relative_to(here))
    for line in ci.github_annotations(checks, rules_file):
        print(line)
    try:
        ci.append_step_summary(text)
    except OSError as exc:  # the summary is a courtesy: the verdict is the exit code
        print(f"bench gate: cannot append to $GITHUB_STEP_SUMMARY: {exc.strerror}", file=sys.stderr)
