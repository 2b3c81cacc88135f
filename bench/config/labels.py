"""A strategy run inside a compare: `name[@threads][/start_method]`, e.g. `pool@unlimited/spawn`."""

from __future__ import annotations

from dataclasses import dataclass

from bench.config import START_METHODS, Config, parse_threads
from bench.errors import ConfigError


@dataclass(frozen=True)
class RunSpec:
    """One row of the root-cause matrix: a strategy with its thread policy and start method."""

    label: str
    strategy: str
    threads_policy: str
    start_method: str


def parse(label: str, cfg: Config) -> RunSpec:
    """Split a run label into its parts, filling unset ones from the config."""
    from bench.strategies import names

    rest, _, start = label.partition("/")
    name, _, threads = rest.partition("@")
    if name not in names():
        raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(names())}, all")
    if start and start not in START_METHODS:
        raise ConfigError(f"unknown start method {start!r} in {label!r}; use {', '.join(START_METHODS)}")
    policy = str(parse_threads(threads)) if threads else cfg.threads
    return RunSpec(label=label, strategy=name, threads_policy=policy, start_method=start or cfg.start_method)


def base_name(label: str) -> str:
    return label.partition("/")[0].partition("@")[0]
