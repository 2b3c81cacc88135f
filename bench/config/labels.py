"""The run-label grammar, `name[@threads][/start_method]` (e.g. `pool@unlimited/spawn`): a leaf that
the config, the runner, the child and the report all parse labels with, and that needs none of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.errors import ConfigError

START_METHODS = ("fork", "spawn", "forkserver")
THREAD_POLICIES = ("auto", "unlimited")


@dataclass(frozen=True)
class RunSpec:
    """One row of the root-cause matrix: a strategy with its thread policy and start method."""

    label: str
    strategy: str
    threads_policy: str
    start_method: str


def split(label: str) -> tuple[str, str, str]:
    """(strategy, threads, start method) as written in the label; an unset part is ''."""
    rest, _, start = label.partition("/")
    name, _, threads = rest.partition("@")
    return name, threads, start


def parse_threads(policy: str) -> str | int:
    """'auto' | 'unlimited' | a positive integer."""
    if policy in THREAD_POLICIES:
        return policy
    if not policy.isdigit():  # int() would also take ' 4', '٤' and '1_0'
        raise ConfigError(f"threads must be auto, unlimited or a positive integer, got {policy!r}")
    n = int(policy)
    if n < 1:
        raise ConfigError(f"threads must be a positive integer, got {n}")
    return n


def parse(label: str, threads: str, start_method: str, known: Iterable[str] | None = None) -> RunSpec:
    """Split a run label into its parts, unset ones from the given defaults; `known` strategy
    names (default: the registry's) are the only ones accepted."""
    if known is None:
        from bench.strategies import names

        known = names()
    known = tuple(known)
    name, policy, start = split(label)
    if name not in known:
        raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(known)}, all")
    if start and start not in START_METHODS:
        raise ConfigError(f"unknown start method {start!r} in {label!r}; use {', '.join(START_METHODS)}")
    threads_policy = str(parse_threads(policy)) if policy else threads
    return RunSpec(label=label, strategy=name, threads_policy=threads_policy, start_method=start or start_method)


def base_name(label: str) -> str:
    return split(label)[0]
