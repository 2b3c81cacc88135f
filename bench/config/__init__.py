"""Run configuration: presets < config file (bench.toml or [tool.bench]) < flags, validated up front."""

from __future__ import annotations

import dataclasses
import multiprocessing
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config.labels import START_METHODS, THREAD_POLICIES, base_name, parse_threads
from bench.config.labels import parse as parse_run
from bench.errors import ConfigError

__all__ = ["START_METHODS", "THREAD_POLICIES", "Config", "parse_threads", "resolve", "validate"]

MODES = ("loop", "batched")
SAMPLERS = ("tpe", "random")
PRUNERS = ("none", "median", "hyperband")
# Tournament sizes the search space may draw; the population must hold the largest.
TOURNAMENT_MAX = 8
# A worker count above this multiple of usable cores is almost always a typo (-w 1280).
MAX_WORKERS_PER_CORE = 4

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


@dataclass(frozen=True)
class Config:
    """Everything one run needs; immutable once validated."""

    preset: str = "default"
    trials: int = 8
    generations: int = 30
    seeds: int = 2
    population: int = 200
    mode: str = "loop"
    workers: int | None = None  # None = usable cores, resolved by `resolve`
    strategies: tuple[str, ...] = ("sequential",)
    threads: str = "auto"
    start_method: str = "fork"
    trial_timeout: float | None = None
    timeout: float | None = None
    sampler: str = "tpe"
    sampler_seed: int = 0
    pruner: str = "none"  # the study's pruner, for objectives that call trial.report/should_prune
    storage: str | None = None
    # Join (or create) this study in `storage` instead of a fresh one per run: several
    # `bench run --strategy optuna-journal` processes, on one machine or many, share it and
    # stop together once it holds `trials` trials.
    study_name: str | None = None
    objective: str | None = None
    out: str = "reports"
    ray_address: str | None = None
    probe_interval: float = 0.5
    stack_interval: float = 2.0
    stacks: bool = True
    migrate_every: int = 5
    migrants: int = 2
    hidden: int = 16
    force: bool = False
    price_per_hour: float | None = None
    direction: str | None = None  # None: maximize for the GA, minimize for a user objective

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["strategies"] = list(self.strategies)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "strategies" in kw:
            kw["strategies"] = tuple(kw["strategies"])
        return cls(**kw)

    def with_(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(Config))
# Sub-tables owned by other commands, allowed in the same file.
FOREIGN_TABLES = frozenset({"gate", "prices"})


def usable_cores() -> int:
    """Cores this process may run on: CPU affinity intersected with the cgroup quota."""
    from probes.machine import usable_cores as _usable

    return _usable()


def find_config_file(cwd: Path) -> tuple[Path, dict[str, Any]] | None:
    """bench.toml in cwd, else [tool.bench] of cwd/pyproject.toml, else nothing."""
    toml = cwd / "bench.toml"
    if toml.is_file():
        return toml, _read_toml(toml)
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        data = _read_toml(pyproject)
        section = data.get("tool", {}).get("bench")
        if isinstance(section, dict):
            return pyproject, section
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None
    if path.name == "pyproject.toml":
        return data
    # bench.toml may hold the settings at top level or under [tool.bench].
    section = data.get("tool", {}).get("bench")
    return section if isinstance(section, dict) else data


def load_file_settings(config_path: str | None, cwd: Path) -> tuple[str | None, dict[str, Any]]:
    """Settings from an explicit --config file, or the one found in cwd (may be none)."""
    if config_path is not None:
        path = Path(config_path)
        if not path.is_file():
            raise ConfigError(f"config file {config_path} does not exist or is not a file")
        return str(path), _read_toml(path)
    found = find_config_file(cwd)
    if found is None:
        return None, {}
    return str(found[0]), found[1]


def resolve(
    flags: Mapping[str, Any],
    config_path: str | None = None,
    cwd: Path | None = None,
    *,
    strategies_all: tuple[str, ...] | None = None,
) -> Config:
    """Merge preset < file < flags (None flags are unset) and validate; raises ConfigError."""
    cwd = cwd or Path.cwd()
    source, file_settings = load_file_settings(config_path, cwd)
    settings = {k: v for k, v in file_settings.items() if k not in FOREIGN_TABLES}
    unknown = sorted(set(settings) - CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r} in {source}; known: {', '.join(sorted(CONFIG_KEYS))}")
    set_flags = {k: v for k, v in flags.items() if v is not None}
    preset = str(set_flags.get("preset", settings.get("preset", "default")))
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    merged: dict[str, Any] = {"preset": preset, **PRESETS[preset], **settings, **set_flags}
    merged["preset"] = preset
    if isinstance(merged.get("strategies"), str):
        merged["strategies"] = [s.strip() for s in merged["strategies"].split(",") if s.strip()]
    if "threads" in merged:
        merged["threads"] = str(merged["threads"])
    try:
        cfg = Config.from_dict(merged)
    except TypeError as exc:
        raise ConfigError(f"invalid config: {exc}") from None
    cfg = _expand_strategies(cfg, strategies_all)
    if cfg.workers is None:
        cfg = cfg.with_(workers=usable_cores())
    validate(cfg)
    return cfg


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


def _int_field(cfg: Config, name: str, minimum: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")


def _positive_or_none(cfg: Config, name: str) -> None:
    value = getattr(cfg, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")



def validate(cfg: Config) -> None:
    """Raise ConfigError for the first bad value; nothing is started before this passes."""
    for label in cfg.strategies:
        parse_run(label, cfg.threads, cfg.start_method)
    if not cfg.strategies:
        raise ConfigError("no strategy given")
    for field, minimum in (
        ("trials", 1), ("generations", 1), ("seeds", 1), ("population", 2), ("workers", 1),
        ("migrate_every", 1), ("migrants", 0), ("hidden", 1), ("sampler_seed", 0),
    ):
        _int_field(cfg, field, minimum)
    assert cfg.workers is not None  # checked by _int_field just above
    cores = usable_cores()
    if cfg.workers > MAX_WORKERS_PER_CORE * cores and not cfg.force:
        raise ConfigError(
            f"workers={cfg.workers} is more than {MAX_WORKERS_PER_CORE}x the {cores} usable cores; "
            "pass --force if you mean it"
        )
    if cfg.population < TOURNAMENT_MAX:
        raise ConfigError(
            f"population {cfg.population} is smaller than the largest tournament size "
            f"{TOURNAMENT_MAX}; use --population {TOURNAMENT_MAX} or more"
        )
    islands = any(base_name(label) == "islands" for label in cfg.strategies)
    if islands and cfg.objective is None:
        if cfg.population // cfg.workers < TOURNAMENT_MAX:
            raise ConfigError(
                f"islands splits population {cfg.population} over {cfg.workers} workers: each island "
                f"needs >= {TOURNAMENT_MAX}; raise --population or lower --workers"
            )
    if islands and cfg.migrants >= cfg.population // max(cfg.workers, 1):
        raise ConfigError(f"migrants {cfg.migrants} must be smaller than an island's population")
    if cfg.mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    if cfg.sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {', '.join(SAMPLERS)}, got {cfg.sampler!r}")
    if cfg.pruner not in PRUNERS:
        raise ConfigError(f"pruner must be one of {', '.join(PRUNERS)}, got {cfg.pruner!r}")
    if cfg.start_method not in START_METHODS:
        raise ConfigError(
            f"start method must be one of {', '.join(START_METHODS)}, got {cfg.start_method!r}"
        )
    if cfg.start_method not in multiprocessing.get_all_start_methods():
        raise ConfigError(f"start method {cfg.start_method!r} is not available on this platform")
    parse_threads(cfg.threads)
    if cfg.direction not in (None, "minimize", "maximize"):
        raise ConfigError(f"direction must be minimize or maximize, got {cfg.direction!r}")
    _positive_or_none(cfg, "trial_timeout")
    _positive_or_none(cfg, "timeout")
    _positive_or_none(cfg, "price_per_hour")
    for name in ("probe_interval", "stack_interval"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    _check_study_name(cfg)
    _check_out_dir(cfg.out)
    if cfg.objective is not None:
        from bench.workload.objective import load_user_objective

        load_user_objective(cfg.objective)


def _check_study_name(cfg: Config) -> None:
    """A shared study needs a storage that outlives the run and one strategy that honours the
    study-wide trial budget (optuna-journal); several strategies in one study would mix them."""
    if cfg.study_name is None:
        return
    if not isinstance(cfg.study_name, str) or not cfg.study_name.strip():
        raise ConfigError(f"study_name must be a non-empty string, got {cfg.study_name!r}")
    if not cfg.storage:
        raise ConfigError(
            "--study-name needs --storage (an RDB URL such as postgresql://… or sqlite:///…, "
            "or a journal file path) that every process can reach"
        )
    bases = [base_name(label) for label in cfg.strategies]
    if bases != ["optuna-journal"]:
        raise ConfigError(
            "--study-name shares one study between processes and only optuna-journal enforces "
            "its trial budget across them; use `bench run --strategy optuna-journal`"
        )


def _check_out_dir(out: str) -> None:
    """The results root must be creatable and writable before any work starts (tried for real:
    permission bits say nothing for root or on read-only mounts)."""
    import tempfile

    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"output directory {out} is not writable: {exc.strerror or exc}") from None
