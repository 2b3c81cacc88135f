"""`bench gate RESULTS_DIR`: exit 1 when measured ratios break the rules, 0 when they hold."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, ResultsError
from bench.records.rundir import load_meta


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="results directory of a `bench compare`")
    p.add_argument("--baseline", help="an earlier results directory to compare ratios against (max_drop)")
    p.add_argument("--config", help="TOML with [gate] or [tool.bench.gate] (default: ./bench.toml, ./pyproject.toml)")
    p.add_argument("--summary", help="write the markdown summary here (default: RESULTS/gate.md)")
    p.add_argument("--allow-different-machine", action="store_true",
                   help="compare with a baseline from another machine shape (ratios may not be comparable)")


def load_gate_table(config: str | None, cwd: Path) -> tuple[str, dict[str, Any]]:
    candidates = [Path(config)] if config else [cwd / "bench.toml", cwd / "pyproject.toml"]
    for path in candidates:
        if not path.is_file():
            if config:
                raise ConfigError(f"gate rule file {config} does not exist")
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read gate rule file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"gate rule file {path} is invalid TOML: {exc}") from None
        table = data.get("tool", {}).get("bench", {}).get("gate", data.get("gate"))
        if table is not None:
            return str(path), table
        if config:
            raise ConfigError(f"{path} has no [gate] or [tool.bench.gate] table")
    raise ConfigError(
        "no gate rules: add [tool.bench.gate] to pyproject.toml or [gate] to bench.toml, or pass --config"
    )


def run(args: argparse.Namespace) -> int:
    from bench.analysis.diagnose import run_metrics
    from bench.analysis.gate import evaluate, parse_rules, render_markdown

    source, table = load_gate_table(args.config, Path.cwd())
    rules = parse_rules(table, source)
    meta = load_meta(args.results)
    metrics = run_metrics(args.results)
    base_metrics = None
    title = f"Results: `{args.results}` · rules: `{source}`"
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
        title += f" · baseline: `{args.baseline}`"
    checks = evaluate(rules, metrics, base_metrics)
    text = render_markdown(checks, title)
    print(text)
    out = Path(args.summary) if args.summary else Path(args.results) / "gate.md"
    try:
        out.write_text(text)
    except OSError as exc:
        raise ConfigError(f"cannot write gate summary {out}: {exc.strerror}") from None
    return 1 if any(not c.passed for c in checks) else 0
