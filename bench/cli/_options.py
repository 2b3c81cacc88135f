"""Flags shared by the commands that run a search (compare, run, sweep)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench import config as config_mod
from bench.config import Config
from bench.errors import ConfigError

# Flag dest -> Config field, for flags whose default must stay None ("not given").
_FIELDS = (
    "preset", "trials", "generations", "seeds", "population", "workers", "mode", "threads",
    "start_method", "trial_timeout", "timeout", "sampler", "sampler_seed", "pruner", "storage", "study_name",
    "objective", "out", "ray_address", "probe_interval", "stack_interval", "migrate_every", "migrants",
    "price_per_hour", "direction",
)


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("search (flags > bench.toml / [tool.bench] > preset)")
    g.add_argument("--preset", choices=sorted(config_mod.PRESETS), help="smoke | default | seed")
    g.add_argument("--config", help="TOML file with settings (default: ./bench.toml or ./pyproject.toml [tool.bench])")
    g.add_argument("-n", "--trials", type=int, help="trials in the search")
    g.add_argument("-g", "--generations", type=int, help="GA generations per trial")
    g.add_argument("-s", "--seeds", type=int, help="GA runs (seeds) per trial; value = mean best")
    g.add_argument("-p", "--population", type=int, help="GA population size")
    g.add_argument("-w", "--workers", type=int, help="parallel workers (default: usable cores)")
    g.add_argument("-m", "--mode", help="loop (Python loop per individual) | batched")
    g.add_argument("--threads", help="threads per worker: auto (cores // workers) | unlimited | N")
    g.add_argument("--start-method", dest="start_method", help="fork | spawn | forkserver")
    g.add_argument("--trial-timeout", dest="trial_timeout", type=float, help="seconds; a trial past it is stopped")
    g.add_argument("--timeout", type=float, help="seconds for the whole run; ends cleanly with partial results")
    g.add_argument("--sampler", help="tpe | random: the study's sampler, under every strategy")
    g.add_argument(
        "--pruner",
        help="none | median | hyperband: the study's pruner, for objectives that call "
        "trial.report / trial.should_prune (default none)",
    )
    g.add_argument("--sampler-seed", dest="sampler_seed", type=int)
    g.add_argument(
        "--storage",
        help="Optuna storage: RDB URL or journal file path (default in-memory; optuna-journal: "
        "a journal file in the results directory)",
    )
    g.add_argument(
        "--study-name", dest="study_name",
        help="optuna-journal with --storage: join (or create) this study, shared with every other "
        "process given the same name and storage; all together stop at --trials trials",
    )
    g.add_argument(
        "--objective",
        help="pkg.module:function or path/to/file.py:function, an Optuna objective(trial) -> float "
        "run instead of the GA (define-by-run, conditional params and pruning work everywhere). "
        "This imports and EXECUTES that code in this process and in every worker.",
    )
    g.add_argument("--direction", help="minimize | maximize (default: maximize for the GA, minimize otherwise)")
    g.add_argument("-o", "--out", help="results root directory (default: reports/)")
    g.add_argument("--name", type=_results_name,
                   help="results directory name, one path component (default: a timestamp)")
    g.add_argument("--ray-address", dest="ray_address", help="join an existing Ray cluster")
    g.add_argument("--probe-interval", dest="probe_interval", type=float, help="process-tree sample period, s")
    g.add_argument("--stack-interval", dest="stack_interval", type=float, help="py-spy stack sample period, s")
    g.add_argument("--no-stacks", dest="stacks", action="store_const", const=False, help="do not run py-spy")
    g.add_argument("--migrate-every", dest="migrate_every", type=int, help="islands: generations between migrations")
    g.add_argument("--migrants", type=int, help="islands: best individuals sent to the next island")
    g.add_argument("--price-per-hour", dest="price_per_hour", type=float, help="$ per hour of this machine")
    g.add_argument("--force", action="store_const", const=True, help="allow more than 4x workers (or threads) per core")
    g.add_argument(
        "--check", action="store_true",
        help="validate every setting, print the resolved config (secrets masked) and exit; "
        "nothing is created or started",
    )


def add_verbosity_arguments(p: argparse.ArgumentParser) -> None:
    """-q / -v, folded into `args.verbosity`: -1 quiet, 0 normal, 1 verbose."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0,
                   help="print only the verdict line and the report path")
    g.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                   help="a line per trial, and the libraries' own output (Ray, loky, Optuna) on "
                   "the terminal instead of the results directory's bench.log")


def _results_name(value: str) -> str:
    """--name is checked as it is parsed, before anything is created or run."""
    from bench.records.rundir import check_name

    try:
        return check_name(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def flags_from(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    flags = {name: getattr(args, name, None) for name in _FIELDS}
    flags["stacks"] = getattr(args, "stacks", None)
    flags["force"] = getattr(args, "force", None)
    flags.update(extra)
    return flags


def print_checked(cfg: Config) -> int:
    """`--check`: the config as the run would use it, one JSON object, passwords masked."""
    import json

    from probes.redact import redact

    shown = cfg.to_dict()
    for key in config_mod.SECRET_KEYS:
        if shown.get(key):
            shown[key] = redact(str(shown[key]))
    print(json.dumps(shown, sort_keys=True))
    return 0


def resolve_config(
    args: argparse.Namespace, defaults: dict[str, Any] | None = None, **extra: Any
) -> Config:
    """The run's config from its flags (only those typed), the config file and the preset;
    `defaults` are the command's own, below the preset."""
    return config_mod.resolve(
        flags_from(args, **extra), getattr(args, "config", None), Path.cwd(), defaults=defaults,
    )
