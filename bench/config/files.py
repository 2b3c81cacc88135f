"""Reading settings from bench.toml or the [tool.bench] table of pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bench.errors import ConfigError


def find_config_file(cwd: Path) -> tuple[Path, dict[str, Any]] | None:
    """bench.toml in cwd, else [tool.bench] of cwd/pyproject.toml, else nothing."""
    toml = cwd / "bench.toml"
    if toml.is_file():
        return toml, read_toml(toml)
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        section = _tool_bench(read_toml(pyproject, whole=True))
        if section is not None:
            return pyproject, section
    return None


def _tool_bench(data: dict[str, Any]) -> dict[str, Any] | None:
    # `tool = 5` or `[tool] bench = "x"` is someone else's business, not a table of ours.
    tool = data.get("tool")
    section = tool.get("bench") if isinstance(tool, dict) else None
    return section if isinstance(section, dict) else None


def read_toml(path: Path, whole: bool = False) -> dict[str, Any]:
    """The settings table of `path` (bench.toml: top level or [tool.bench]); `whole`: all of it."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not UTF-8 text (byte {exc.start}); TOML files must be UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None
    if whole or path.name == "pyproject.toml":
        return data
    section = _tool_bench(data)
    return section if section is not None else data


def load_file_settings(config_path: str | None, cwd: Path) -> tuple[str | None, dict[str, Any]]:
    """Settings from an explicit --config file, or the one found in cwd (may be none)."""
    if config_path is not None:
        path = Path(config_path)
        try:
            regular = path.is_file()
        except (OSError, ValueError):  # a NUL byte or an over-long name
            regular = False
        if not regular:
            raise ConfigError(f"config file {config_path} does not exist or is not a file")
        if path.name == "pyproject.toml":
            return str(path), _tool_bench(read_toml(path, whole=True)) or {}
        return str(path), read_toml(path)
    found = find_config_file(cwd)
    if found is None:
        return None, {}
    return str(found[0]), found[1]
