"""Run configuration: presets < config file (bench.toml or [tool.bench]) < flags, validated up front.

Adding a setting is one line in `Config` (its type and bounds, which pydantic checks) plus, only
when it depends on other settings, one rule in `bench.config.checks`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le

from bench.config.files import find_config_file, load_file_settings
from bench.config.labels import START_METHODS, THREAD_POLICIES, parse_threads
from bench.errors import ConfigError

__all__ = [
    "CONFIG_KEYS", "FOREIGN_TABLES", "PRESETS", "SECRET_ENV", "START_METHODS", "STORAGE_ENV",
    "THREAD_POLICIES", "Config", "find_config_file", "load_file_settings", "parse_threads", "resolve",
    "usable_cores", "validate",
]

MODES = ("loop", "batched")
SAMPLERS = ("tpe", "random")
PRUNERS = ("none", "median", "hyperband")
# Tournament sizes the search space may draw; the population must hold the largest.
TOURNAMENT_MAX = 8
# A worker (or thread) count above this multiple of usable cores is almost always a typo (-w 1280).
MAX_WORKERS_PER_CORE = 4
# Upper bounds that no real run comes near; past them a value is a typo or an attack, and some
# would overflow further down (setitimer, numpy seeds, memory for the GA population).
MAX_WORKERS = 4096
MAX_SECONDS = 30 * 24 * 3600.0
SEED_MAX = 2**32 - 1  # numpy's RandomState (Optuna's samplers) takes 0 .. 2**32 - 1
MIN_PROBE_INTERVAL = 0.05  # below this the probe thread is a busy loop

PRESETS: dict[str, dict[str, Any]] = {
    # Answers in well under a minute on 2 cores, every strategy included.
    "smoke": {"trials": 4, "generations": 60, "seeds": 1, "population": 64, "mode": "loop",
              "probe_interval": 0.25, "stack_interval": 0.5},
    # One trial is ~3-8 s on one core here (loop mode), so dispatch does not dominate.
    "default": {"trials": 8, "generations": 80, "seeds": 3, "population": 200, "mode": "loop"},
    # The scale of the original report: 100 trials of a 500 x 150 GA over 3 seeds.
    "seed": {"trials": 100, "generations": 150, "seeds": 3, "population": 500, "mode": "loop"},
}

# The storage URL as given (password included) reaches a run's child process through this
# environment variable; run.json, which is shared and committed, holds it masked.
STORAGE_ENV = "COREBENCH_STORAGE"
# The same for every setting that may hold a password (run.json holds them masked).
SECRET_ENV = {"storage": STORAGE_ENV, "ray_address": "COREBENCH_RAY_ADDRESS"}

Seconds = Annotated[float, Gt(0), Le(MAX_SECONDS)]
Interval = Annotated[float, Ge(MIN_PROBE_INTERVAL), Le(3600.0)]


@dataclass(frozen=True)
class Config:
    """Everything one run needs; immutable once validated. Types and bounds are checked by
    pydantic in `resolve` (strict: a TOML string is not a bool, nan and inf are not numbers)."""

    preset: Literal["smoke", "default", "seed"] = "default"
    trials: Annotated[int, Ge(1), Le(1_000_000)] = 8
    generations: Annotated[int, Ge(1), Le(100_000)] = 30
    seeds: Annotated[int, Ge(1), Le(1000)] = 2
    population: Annotated[int, Ge(2), Le(100_000)] = 200
    mode: Literal["loop", "batched"] = "loop"
    workers: Annotated[int, Ge(1), Le(MAX_WORKERS)] | None = None  # None = usable cores
    strategies: tuple[str, ...] = ("sequential",)
    threads: str = "auto"  # auto | unlimited | N, checked by parse_threads
    start_method: Literal["fork", "spawn", "forkserver"] = "fork"
    trial_timeout: Seconds | None = None
    timeout: Seconds | None = None
    sampler: Literal["tpe", "random"] = "tpe"
    sampler_seed: Annotated[int, Ge(0), Le(SEED_MAX)] = 0
    # The study's pruner, for objectives that call trial.report / should_prune.
    pruner: Literal["none", "median", "hyperband"] = "none"
    storage: str | None = None
    # Join (or create) this study in `storage` instead of a fresh one per run: several
    # `bench run --strategy optuna-journal` processes, on one machine or many, share it and
    # stop together once it holds `trials` trials.
    study_name: str | None = None
    objective: str | None = None
    out: str = "reports"
    ray_address: str | None = None
    probe_interval: Interval = 0.5
    stack_interval: Interval = 2.0
    stacks: bool = True
    migrate_every: Annotated[int, Ge(1), Le(100_000)] = 5
    migrants: Annotated[int, Ge(0), Le(100_000)] = 2
    hidden: Annotated[int, Ge(1), Le(4096)] = 16
    force: bool = False
    price_per_hour: Annotated[float, Gt(0), Le(1e6)] | None = None
    direction: Literal["minimize", "maximize"] | None = None  # None: maximize the GA, minimize a user's

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["strategies"] = list(self.strategies)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Config:
        """A Config from run.json (written by us, already validated): unknown keys dropped."""
        kw = {k: v for k, v in d.items() if k in CONFIG_KEYS}
        if "strategies" in kw:
            kw["strategies"] = tuple(kw["strategies"])
        return cls(**kw)

    def with_(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(Config))
# Sub-tables owned by other commands, allowed in the same file.
FOREIGN_TABLES = frozenset({"gate", "prices"})
# Settings whose value may hold a password: shown masked in every error message.
SECRET_KEYS = frozenset(SECRET_ENV)


def usable_cores() -> int:
    """Cores this process may run on: CPU affinity intersected with the cgroup quota."""
    from probes.machine import usable_cores as _usable

    return _usable()


def validate(cfg: Config) -> None:
    """The cross-field rules of `bench.config.checks` on an already typed Config."""
    from bench.config.checks import validate as _validate

    _validate(cfg)


def flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def resolve(
    flags: Mapping[str, Any],
    config_path: str | None = None,
    cwd: Path | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    strategies_all: tuple[str, ...] | None = None,
) -> Config:
    """Merge defaults < preset < file < flags (a None flag was not typed) and validate all of it,
    before anything is created or started; raises ConfigError naming the value and its source."""
    from bench.config.checks import check_types, validate

    cwd = cwd or Path.cwd()
    source, file_settings = load_file_settings(config_path, cwd)
    source = source or "config file"
    settings = {k: v for k, v in file_settings.items() if k not in FOREIGN_TABLES}
    unknown = sorted(set(settings) - CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r} in {source}; known: {', '.join(sorted(CONFIG_KEYS))}")
    typed = {k: v for k, v in flags.items() if v is not None}
    preset = typed.get("preset", settings.get("preset", "default"))
    if not isinstance(preset, str) or preset not in PRESETS:
        where = flag_name("preset") if "preset" in typed else source
        raise ConfigError(f"unknown preset {preset!r} (from {where}); choose one of {', '.join(PRESETS)}")
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for where, layer in (("default", defaults or {}), (f"preset {preset}", PRESETS[preset]),
                         (source, settings), ("", typed)):
        for key, value in layer.items():
            merged[key] = value
            origin[key] = where or flag_name(key)
    merged["preset"] = preset
    cfg = check_types(_normalise(merged), origin)
    cfg = _expand_strategies(cfg, strategies_all)
    if cfg.workers is None:
        cfg = cfg.with_(workers=usable_cores())
    validate(cfg, origin)
    return cfg


def _normalise(merged: dict[str, Any]) -> dict[str, Any]:
    """The two spellings a setting may have: `strategies` as a comma list or a TOML array,
    `threads` as a string or a TOML integer. Anything else goes to the type check as it is."""
    out = dict(merged)
    strategies = out.get("strategies")
    if isinstance(strategies, str):
        out["strategies"] = tuple(s.strip() for s in strategies.split(",") if s.strip())
    elif isinstance(strategies, list):
        out["strategies"] = tuple(strategies)
    threads = out.get("threads")
    if isinstance(threads, int) and not isinstance(threads, bool):
        out["threads"] = str(threads)
    return out


def _expand_strategies(cfg: Config, strategies_all: tuple[str, ...] | None) -> Config:
    if strategies_all is None:
        from bench.strategies import names

        strategies_all = names()
    out: list[str] = []
    for name in cfg.strategies:
        for n in strategies_all if name == "all" else (name,):
            if n not in out:
                out.append(n)
    return cfg.with_(strategies=tuple(out))
