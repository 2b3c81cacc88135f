"""The one validation pass over a merged config: types and bounds through pydantic, then the rules
that tie settings together, the storage and the objective; the output root is tried last, so a bad
value anywhere means nothing was created."""

from __future__ import annotations

import dataclasses
import multiprocessing
from functools import cache
from pathlib import Path
from typing import Any

from bench.config import (
    MAX_WORKERS_PER_CORE,
    SECRET_KEYS,
    TOURNAMENT_MAX,
    Config,
    flag_name,
    parse_threads,
    usable_cores,
)
from bench.config.labels import base_name
from bench.errors import ConfigError

SHOWN_MAX = 60  # characters of a bad value quoted in the error line


@cache
def _validating_config() -> Any:
    """Config as a pydantic dataclass (strict, finite numbers), built once, on first use: pydantic
    stays out of `bench --help` and of every child and worker process."""
    import pydantic

    return pydantic.dataclasses.dataclass(
        Config, config=pydantic.ConfigDict(strict=True, allow_inf_nan=False), frozen=True,
    )


def _shown(key: str, value: Any) -> str:
    from probes.redact import redact

    text = redact(value) if key in SECRET_KEYS and isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"


def check_types(merged: dict[str, Any], origin: dict[str, str]) -> Config:
    """Every field's type and bounds; the first problem as one line naming key, value and source."""
    import pydantic

    try:
        checked = _validating_config()(**merged)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "config"
        name = key + "".join(f"[{i}]" for i in err["loc"][1:])
        msg = err["msg"]
        raise ConfigError(
            f"{name} = {_shown(key, err['input'])} (from {origin.get(key, 'config')}): "
            f"{msg[:1].lower()}{msg[1:]}"
        ) from None
    return Config(**{f.name: getattr(checked, f.name) for f in dataclasses.fields(Config)})


def validate(cfg: Config, origin: dict[str, str] | None = None) -> None:
    """The rules across fields; raise ConfigError for the first one broken."""
    from bench.config.labels import parse as parse_run

    origin = origin or {}
    if not cfg.strategies:
        raise ConfigError(f"no strategy given (from {origin.get('strategies', '--strategies')}); "
                          "name one or more, or 'all'")
    for label in cfg.strategies:
        parse_run(label, cfg.threads, cfg.start_method)
    assert cfg.workers is not None  # resolved to the usable cores before this
    cores = usable_cores()
    policy = parse_threads(cfg.threads)
    for what, n in (("workers", cfg.workers), ("threads", policy if isinstance(policy, int) else 0)):
        if n > MAX_WORKERS_PER_CORE * cores and not cfg.force:
            raise ConfigError(
                f"{what}={n} is more than {MAX_WORKERS_PER_CORE}x the {cores} usable cores; "
                f"pass {flag_name('force')} if you mean it"
            )
    if cfg.population < TOURNAMENT_MAX:
        raise ConfigError(
            f"population {cfg.population} is smaller than the largest tournament size "
            f"{TOURNAMENT_MAX}; use --population {TOURNAMENT_MAX} or more"
        )
    islands = any(base_name(label) == "islands" for label in cfg.strategies)
    if islands and cfg.objective is None and cfg.population // cfg.workers < TOURNAMENT_MAX:
        raise ConfigError(
            f"islands splits population {cfg.population} over {cfg.workers} workers: each island "
            f"needs >= {TOURNAMENT_MAX}; raise --population or lower --workers"
        )
    if islands and cfg.migrants >= cfg.population // max(cfg.workers, 1):
        raise ConfigError(f"migrants {cfg.migrants} must be smaller than an island's population")
    if cfg.start_method not in multiprocessing.get_all_start_methods():
        raise ConfigError(f"start method {cfg.start_method!r} is not available on this platform")
    for key in ("out", "storage", "study_name", "objective", "ray_address"):
        value = getattr(cfg, key)
        if value is not None and (not value.strip() or any(ord(c) < 32 for c in value)):
            raise ConfigError(f"{key} = {_shown(key, value)} (from {origin.get(key, 'config')}): "
                              "must be non-empty, with no control characters")
    _check_study_name(cfg)
    if cfg.storage:
        from bench.config.storage import check_storage

        check_storage(cfg.storage)
    if cfg.objective is not None:
        from bench.workload.objective import load_user_objective

        load_user_objective(cfg.objective)
    _check_out_dir(cfg.out)


def _check_study_name(cfg: Config) -> None:
    """A shared study needs a storage that outlives the run and one strategy that honours the
    study-wide trial budget (optuna-journal); several strategies in one study would mix them."""
    if cfg.study_name is None:
        return
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
    """The results root must be writable, or creatable in a writable directory, before any work
    starts; tried for real with a temporary file (permission bits say nothing for root or on
    read-only mounts), and nothing is left behind: the run creates the directory itself."""
    import tempfile

    try:
        probe = Path(out).absolute()
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise NotADirectoryError(20, "not a directory", str(probe))
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".write-check-"):
            pass
    except (OSError, ValueError) as exc:
        raise ConfigError(f"output directory {out} is not writable: {getattr(exc, 'strerror', None) or exc}") from None
