"""The runs of `bench sweep`: one or more strategies at several worker counts, same trials and
seeds, each (strategy, count) in its own results directory inside the sweep directory,
`<sweep>/<strategy>-w<count>`. What the runs measured is turned into fits by
bench.analysis.scaling.document and shown by bench.report.sweep; bench.cli.sweep strings them
together.

Worker counts are interleaved across strategies (count 1 of every strategy, then count 2 in the
reverse order, ...), so drift of the machine over the sweep hits every strategy alike instead of
landing on whichever ran last.
"""

from __future__ import annotations

import re
import sys

from bench.config import Config
from bench.config.labels import base_name
from bench.errors import StrategyUnavailable
from bench.records.rundir import RunDir


def interleave(labels: tuple[str, ...], counts: tuple[int, ...]) -> list[tuple[str, int]]:
    """The run order: each count for every strategy, the strategy order reversed at each count."""
    order: list[tuple[str, int]] = []
    for i, n in enumerate(counts):
        row = labels if i % 2 == 0 else tuple(reversed(labels))
        order += [(label, n) for label in row]
    return order


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")


def check(cfg: Config, labels: tuple[str, ...], counts: tuple[int, ...]) -> None:
    """Every count valid for the config, every strategy able to run here; nothing started yet."""
    from bench import config as config_mod
    from bench.strategies import get

    for n in counts:
        config_mod.validate(cfg.with_(workers=n))
    for label in labels:
        avail = get(base_name(label)).available()
        if not avail.ok:
            raise StrategyUnavailable(f"{base_name(label)} cannot run here: {avail.reason}")


def run_point(cfg: Config, label: str, n: int, argv: list[str] | None, verbosity: int = 0) -> RunDir:
    """`label` at `n` workers (no sequential baseline) in `<cfg.out>/<label>-w<n>`; verbosity as
    runner.run_plan takes it (-1 quiet, 1 a line per trial and the children's output)."""
    from bench.run import runner

    point = cfg.with_(workers=n, strategies=(label,))
    rd = runner.create_run_dir(point, argv, f"{slug(label)}-w{n}")
    if verbosity >= 0:
        print(f"results: {rd.path}", file=sys.stderr)
    runner.run_plan(point, runner.plan(point, baseline=False), rd, verbosity=verbosity)
    return rd


def print_estimate(cfg: Config, labels: tuple[str, ...], counts: tuple[int, ...]) -> None:
    """The calibrated duration of the whole sweep, on stderr."""
    from bench.run.calibrate import format_duration, run_seconds, trial_seconds

    try:
        per_trial = trial_seconds(cfg, workers=1)
    except Exception as exc:  # a calibration failure must not stop the sweep itself
        print(f"estimate: unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
        return
    total = sum(run_seconds(cfg.with_(workers=n), lb, per_trial) for lb in labels for n in counts)
    print(
        f"estimate: about {format_duration(total)} for {len(labels) * len(counts)} runs of "
        f"{cfg.trials} trials (one trial ~{per_trial:.2f} s on one worker; ideal scaling assumed)",
        file=sys.stderr,
    )
