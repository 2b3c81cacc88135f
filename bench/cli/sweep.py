"""`bench sweep`: one or more strategies at several worker counts, same trials and seeds, then a
scaling fit per strategy. Arguments, their checks and the loop here; the runs in bench.run.sweep;
the sweep document and its fits in bench.analysis.scaling.document; sweep.md, sweep.png and the
terminal summary in bench.report.sweep.

    <sweep>/<strategy>-w1, -w2, ...   one results directory per (strategy, worker count)
    <sweep>/sweep.json                 per strategy: points, Amdahl and USL fits, predictions
    <sweep>/sweep.png, sweep.md        the same for a person
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.cli._options import add_search_arguments, print_checked, resolve_config
from bench.config import Config
from bench.config.labels import base_name
from bench.errors import ConfigError, Interrupted

if TYPE_CHECKING:
    from bench.analysis.scaling import ScalingAnalysis


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--strategies", dest="strategies",
        help="comma list of strategies or variants swept together, worker counts interleaved "
        "(pool,joblib-loky,pool@unlimited/spawn)",
    )
    which.add_argument("--strategy", dest="strategies", help="one strategy (same as --strategies NAME)")
    add_search_arguments(p)
    # The shared -w/--workers takes one count; a sweep takes a list, so it replaces that flag.
    g = p.add_argument_group("sweep", conflict_handler="resolve")
    g.add_argument(
        "-w", "--workers", dest="worker_counts", default=None,
        help="comma list of worker counts, e.g. 1,2,4 (default: 1, 2, 4, ... up to usable cores)",
    )
    g.add_argument("--no-estimate", dest="estimate", action="store_false",
                   help="skip the calibration trial that estimates the duration")
    from bench.cli._json import add_json_argument
    from bench.cli._options import add_verbosity_arguments

    add_verbosity_arguments(p)
    add_json_argument(p)


def parse_worker_counts(text: str) -> tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4): integers >= 1, no duplicates, at least two; returned sorted."""
    counts: list[int] = []
    for part in text.split(","):
        item = part.strip()
        try:
            n = int(item)
        except ValueError:
            raise ConfigError(
                f"--workers takes comma-separated integers, got {item!r} in {text!r}"
            ) from None
        if n < 1:
            raise ConfigError(f"--workers counts must be >= 1, got {n}")
        if n in counts:
            raise ConfigError(f"--workers lists {n} twice")
        counts.append(n)
    if len(counts) < 2:
        raise ConfigError(
            f"a sweep needs at least two worker counts, got {text!r}; e.g. --workers 1,2"
        )
    return tuple(sorted(counts))


def parse_strategies(text: str) -> tuple[str, ...]:
    """'pool, joblib-loky' -> ('pool', 'joblib-loky'): parallel strategies, each once."""
    labels = [part.strip() for part in str(text).split(",") if part.strip()]
    if not labels:
        raise ConfigError("--strategies needs at least one strategy, e.g. --strategies pool")
    for label in labels:
        if base_name(label) == "all":
            raise ConfigError("bench sweep takes named strategies, not 'all': list them, e.g. "
                              "--strategies pool,joblib-loky")
        if base_name(label) == "sequential":
            raise ConfigError(
                "sequential always runs one worker; sweep a parallel strategy (e.g. pool)"
            )
    twice = sorted({lb for lb in labels if labels.count(lb) > 1})
    if twice:
        raise ConfigError(f"--strategies lists {', '.join(twice)} twice")
    return tuple(labels)


def default_worker_counts(cores: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to the usable cores, and the core count itself."""
    counts = {1, max(2, cores)}
    n = 2
    while n < cores:
        counts.add(n)
        n *= 2
    return tuple(sorted(counts))


def run(args: argparse.Namespace) -> int:
    from bench.config import usable_cores

    labels = parse_strategies(args.strategies)
    counts = (parse_worker_counts(args.worker_counts) if args.worker_counts is not None
              else default_worker_counts(usable_cores()))
    # Validated at the largest count (the strictest for workers-per-core and island sizes).
    cfg = resolve_config(args, strategies=",".join(labels), workers=counts[-1])
    if cfg.study_name is not None:
        raise ConfigError(
            "bench sweep runs every worker count on a fresh study; with --study-name the later "
            "counts would join the first one's finished study and run nothing"
        )
    if args.check:
        return print_checked(cfg)
    from bench.cli._json import emit, human_output

    docs: list[dict[str, Any]] = []
    with human_output(args.json):
        code = sweep(cfg, labels, counts, name=args.name, argv=sys.argv, estimate=args.estimate,
                     verbosity=args.verbosity, documents=docs if args.json else None)
    for doc in docs:
        emit(doc, args.json)
    return code


def sweep(
    cfg: Config, labels: tuple[str, ...], counts: tuple[int, ...], name: str | None = None,
    argv: list[str] | None = None, estimate: bool = True, verbosity: int = 0,
    documents: list[dict[str, Any]] | None = None,
) -> int:
    """Run every label at each worker count, interleaved, into one sweep directory; 0 when every
    run finished ok. `documents`, when given, receives the sweep's results document (--json)."""
    from bench.analysis.cost.catalog import catalog_cores
    from bench.analysis.scaling import SWEEP_FILE
    from bench.analysis.scaling import document as sd
    from bench.records.rundir import RunDir, write_json_atomic
    from bench.report.sweep import print_result
    from bench.run import sweep as runs

    runs.check(cfg, labels, counts)
    cores, cores_source = catalog_cores()  # a bad catalog stops the sweep before it starts
    name = name or f"sweep-{'-'.join(runs.slug(lb) for lb in labels)}-{time.strftime('%Y%m%d-%H%M%S')}"
    sweep_dir = RunDir.create(cfg.out, name).path
    print(f"sweep: {sweep_dir} ({', '.join(labels)} at {', '.join(map(str, counts))} workers)",
          file=sys.stderr)
    if estimate:
        runs.print_estimate(cfg, labels, counts)
    order = runs.interleave(labels, counts)
    argv = list(argv) if argv is not None else sys.argv
    doc = sd.new(cfg.to_dict(), labels, counts, order, cores, cores_source, argv)
    try:
        for label, n in order:
            rd = runs.run_point(cfg.with_(out=str(sweep_dir)), label, n, argv, verbosity)
            sd.add(doc, label, sd.point(rd, label, n), rd)
            write_json_atomic(sweep_dir / SWEEP_FILE, doc)
    except (Interrupted, KeyboardInterrupt):
        # What was measured so far is still a (shorter) sweep: keep it readable.
        if any(s["runs"] for s in doc["sweeps"].values()):
            _write_outputs(doc, sweep_dir, "interrupted")
        raise
    analyses = _write_outputs(doc, sweep_dir, "complete")
    if verbosity >= 0:
        print_result(doc, analyses, sweep_dir)
    else:
        print(f"report: {sweep_dir / doc.get('markdown', 'sweep.md')}")
    if documents is not None:
        documents.append(sweep_document(doc, sweep_dir))
    bad = [(lb, r) for lb, s in doc["sweeps"].items() for r in s["runs"] if r["status"] != "ok"]
    for lb, r in bad:
        print(f"bench sweep: {lb} at {r['workers']} workers: {r['status']}: {r['reason']}",
              file=sys.stderr)
    return 1 if bad else 0


def sweep_document(doc: dict[str, Any], sweep_dir: Path) -> dict[str, Any]:
    """The sweep as a results document: its strategies' points, fits and predictions under `sweep`."""
    from bench.report.json_out import envelope, plain

    out = envelope("sweep", sweep_dir, doc)
    out["sweep"] = plain({k: v for k, v in doc.items() if k not in ("machine", "git", "config")})
    out["report"] = str(sweep_dir / doc.get("markdown", "sweep.md"))
    return out


def _write_outputs(doc: dict[str, Any], sweep_dir: Path, status: str) -> dict[str, ScalingAnalysis]:
    from bench.analysis.scaling import SWEEP_FILE
    from bench.analysis.scaling import document as sd
    from bench.records.rundir import write_json_atomic
    from bench.report.sweep import render_markdown, write_plot

    analyses = sd.finish(doc, status)
    write_json_atomic(sweep_dir / SWEEP_FILE, doc)
    write_plot(sweep_dir / sd.PLOT_FILE, analyses)
    (sweep_dir / sd.MARKDOWN_FILE).write_text(render_markdown(doc, analyses))
    return analyses
