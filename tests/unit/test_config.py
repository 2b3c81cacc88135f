"""Config resolution: presets < file < flags, and validation of every value before work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import config
from bench.config import Config, resolve
from bench.errors import ConfigError


def test_preset_values_then_flags_win(tmp_path: Path) -> None:
    cfg = resolve({"preset": "smoke", "trials": 7, "out": str(tmp_path)}, cwd=tmp_path)
    assert cfg.trials == 7
    assert cfg.generations == config.PRESETS["smoke"]["generations"]


def test_file_beats_preset_and_flags_beat_file(tmp_path: Path) -> None:
    (tmp_path / "bench.toml").write_text('preset = "smoke"\ntrials = 5\nmode = "batched"\n')
    cfg = resolve({"out": str(tmp_path), "mode": "loop"}, cwd=tmp_path)
    assert (cfg.preset, cfg.trials, cfg.mode) == ("smoke", 5, "loop")


def test_pyproject_tool_bench_section_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.bench]\npreset = "smoke"\npopulation = 40\n[tool.bench.gate]\nmin_speedup = 1.2\n'
    )
    cfg = resolve({"out": str(tmp_path)}, cwd=tmp_path)
    assert cfg.population == 40


def test_all_expands_to_every_strategy_once(tmp_path: Path) -> None:
    from bench.strategies import names

    cfg = resolve({"preset": "smoke", "strategies": "all,pool", "out": str(tmp_path)}, cwd=tmp_path)
    assert cfg.strategies == names()


def test_variants_keep_their_labels(tmp_path: Path) -> None:
    from bench.config.labels import parse

    cfg = resolve({"preset": "smoke", "strategies": "pool@unlimited/spawn", "out": str(tmp_path)}, cwd=tmp_path)
    spec = parse(cfg.strategies[0], cfg.threads, cfg.start_method)
    assert (spec.strategy, spec.threads_policy, spec.start_method) == ("pool", "unlimited", "spawn")


def test_workers_default_to_usable_cores(tmp_path: Path) -> None:
    cfg = resolve({"preset": "smoke", "out": str(tmp_path)}, cwd=tmp_path)
    assert cfg.workers == config.usable_cores()


def test_config_round_trips_through_dict() -> None:
    cfg = Config(strategies=("pool", "ray"), trial_timeout=3.0)
    assert Config.from_dict(cfg.to_dict()) == cfg


BAD = [
    ({"preset": "huge"}, "unknown preset"),
    ({"strategies": "pooll"}, "unknown strategy"),
    ({"strategies": "pool@zero"}, "threads must be"),
    ({"strategies": "pool/vfork"}, "unknown start method"),
    ({"workers": 0}, "workers must be >= 1"),
    ({"workers": 10_000}, "pass --force"),
    ({"generations": -3}, "generations must be >= 1"),
    ({"trials": 0}, "trials must be >= 1"),
    ({"seeds": 0}, "seeds must be >= 1"),
    ({"population": 5}, "smaller than the largest tournament size"),
    ({"mode": "vectorised"}, "mode must be one of"),
    ({"threads": "0"}, "threads must be a positive integer"),
    ({"threads": "lots"}, "threads must be auto, unlimited"),
    ({"sampler": "cmaes"}, "sampler must be one of"),
    ({"pruner": "asha"}, "pruner must be one of"),
    ({"objective": "no/such/file.py:f"}, "is not a .py file"),
    ({"objective": "tests/fixtures/README.md:f"}, "is not a .py file"),
    ({"start_method": "vfork"}, "start method must be one of"),
    ({"trial_timeout": -1.0}, "trial_timeout must be a positive"),
    ({"timeout": 0}, "timeout must be a positive"),
    ({"probe_interval": 0}, "probe_interval must be a positive"),
    ({"objective": "no_such_module_xyz:f"}, "cannot import objective module"),
    ({"objective": "tests.fixtures.objectives:missing"}, "has no attribute"),
    ({"objective": "tests.fixtures.objectives:NOT_CALLABLE"}, "is not callable"),
    ({"objective": "justaname"}, "must look like pkg.module:function"),
    ({"strategies": "islands", "workers": 2, "population": 10}, "each island needs"),
    ({"direction": "up"}, "direction must be"),
]


@pytest.mark.parametrize(("flags", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_values_raise_config_error(tmp_path: Path, flags: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve({"preset": "smoke", "out": str(tmp_path), **flags}, cwd=Path.cwd())


def test_unknown_config_key(tmp_path: Path) -> None:
    (tmp_path / "bench.toml").write_text("trails = 4\n")
    with pytest.raises(ConfigError, match="unknown config key 'trails'"):
        resolve({"out": str(tmp_path)}, cwd=tmp_path)


def test_invalid_toml(tmp_path: Path) -> None:
    (tmp_path / "bench.toml").write_text("trials = = 4\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        resolve({"out": str(tmp_path)}, cwd=tmp_path)


def test_missing_explicit_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve({"out": str(tmp_path)}, str(tmp_path / "nope.toml"), cwd=tmp_path)


def test_output_dir_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="not writable"):
        resolve({"preset": "smoke", "out": str(blocker / "sub")}, cwd=tmp_path)
