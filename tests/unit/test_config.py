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
    ({"workers": 0}, r"workers = 0 \(from --workers\): input should be greater than or equal to 1"),
    ({"workers": 100}, "pass --force"),
    ({"workers": 10_000, "force": True}, "less than or equal to 4096"),
    ({"generations": -3}, "generations = -3 .*greater than or equal to 1"),
    ({"trials": 0}, "trials = 0 .*greater than or equal to 1"),
    ({"seeds": 0}, "seeds = 0 .*greater than or equal to 1"),
    ({"population": 5}, "smaller than the largest tournament size"),
    ({"population": 10**9}, "population = 1000000000 .*less than or equal to"),
    ({"mode": "vectorised"}, "mode = 'vectorised' .*'loop' or 'batched'"),
    ({"threads": "0"}, "threads must be a positive integer"),
    ({"threads": "lots"}, "threads must be auto, unlimited"),
    ({"threads": " 4"}, "threads must be auto, unlimited"),
    ({"threads": "100"}, "threads=100 is more than 4x"),
    ({"sampler": "cmaes"}, "sampler = 'cmaes' .*'tpe' or 'random'"),
    ({"pruner": "asha"}, "pruner = 'asha' .*'none', 'median' or 'hyperband'"),
    ({"objective": "no/such/file.py:f"}, "is not a .py file"),
    ({"objective": "tests/fixtures/README.md:f"}, "is not a .py file"),
    ({"start_method": "vfork"}, "start_method = 'vfork' .*'fork', 'spawn' or 'forkserver'"),
    ({"trial_timeout": -1.0}, "trial_timeout = -1.0 .*greater than 0"),
    ({"trial_timeout": float("nan")}, "trial_timeout = nan .*finite number"),
    ({"trial_timeout": float("inf")}, "trial_timeout = inf .*finite number"),
    ({"trial_timeout": 1e300}, "trial_timeout = 1e\\+300 .*less than or equal to"),
    ({"timeout": 0}, "timeout = 0 .*greater than 0"),
    ({"timeout": float("inf")}, "timeout = inf .*finite number"),
    ({"probe_interval": 0}, "probe_interval = 0 .*greater than or equal to 0.05"),
    ({"probe_interval": 1e-9}, "probe_interval = 1e-09 .*greater than or equal to 0.05"),
    ({"probe_interval": float("inf")}, "probe_interval = inf .*finite number"),
    ({"probe_interval": float("nan")}, "probe_interval = nan .*finite number"),
    ({"stack_interval": float("nan")}, "stack_interval = nan .*finite number"),
    ({"price_per_hour": float("nan")}, "price_per_hour = nan .*finite number"),
    ({"sampler_seed": 99_999_999_999}, "sampler_seed = 99999999999 .*less than or equal to 4294967295"),
    ({"sampler_seed": -1}, "sampler_seed = -1 .*greater than or equal to 0"),
    ({"objective": "no_such_module_xyz:f"}, "cannot import objective module"),
    ({"objective": "tests.fixtures.objectives:missing"}, "has no attribute"),
    ({"objective": "tests.fixtures.objectives:NOT_CALLABLE"}, "is not callable"),
    ({"objective": "justaname"}, "must look like pkg.module:function"),
    ({"strategies": "islands", "workers": 2, "population": 10}, "each island needs"),
    ({"direction": "up"}, "direction = 'up' .*'minimize' or 'maximize'"),
    ({"strategies": ""}, r"no strategy given \(from --strategies\)"),
    ({"strategies": " , "}, "no strategy given"),
    ({"storage": "postgresql+psycopg2://u:hunter2@db/x"}, "psycopg2 driver is not installed"),
    ({"storage": "nosuchdb://u:hunter2@db/x"}, "no database kind 'nosuchdb'"),
    ({"storage": "/no/such/dir/journal.log"}, "directory /no/such/dir does not exist"),
    ({"out": "a\nb"}, "no control characters"),
]


@pytest.mark.parametrize(("flags", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_values_raise_config_error(tmp_path: Path, flags: dict, message: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=message) as exc:
        resolve({"preset": "smoke", "out": str(out), **flags}, cwd=Path.cwd())
    assert "hunter2" not in str(exc.value)
    # One validation pass before anything is created: not even the results root.
    assert not out.exists()


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


FILE_BAD = [
    ('force = "false"', r"force = 'false' \(from .*bench.toml\): input should be a valid boolean"),
    ('stacks = "no"', r"stacks = 'no' \(from .*bench.toml\): input should be a valid boolean"),
    ("stacks = 0", "stacks = 0 .*valid boolean"),
    ("out = 5", "out = 5 .*valid string"),
    ("objective = 5", "objective = 5 .*valid string"),
    ("strategies = [1, 2]", r"strategies\[0\] = 1 .*valid string"),
    ("strategies = 5", "strategies = 5 .*valid tuple"),
    ('trials = "8"', "trials = '8' .*valid integer"),
    ("trials = 8.0", "trials = 8.0 .*valid integer"),
    ("trials = true", "trials = True .*valid integer"),
    ("threads = true", "threads = True .*valid string"),
    ("probe_interval = inf", "probe_interval = inf .*finite number"),
    ("timeout = nan", "timeout = nan .*finite number"),
    ('preset = 5', "unknown preset 5"),
    ('storage = "sqlite:///x.db?password=hunter2"\nstudy_name = 4', "study_name = 4 .*valid string"),
    ('ray_address = 7', "ray_address = 7 .*valid string"),
]


@pytest.mark.parametrize(("toml", "message"), FILE_BAD, ids=[t for t, _ in FILE_BAD])
def test_file_values_are_type_checked_strictly(tmp_path: Path, toml: str, message: str) -> None:
    """TOML strings are not booleans, floats not integers; the error names the file."""
    (tmp_path / "bench.toml").write_text(toml + "\n")
    flags = {"preset": "smoke", "out": str(tmp_path / "out")}
    with pytest.raises(ConfigError, match=message) as exc:
        resolve({k: v for k, v in flags.items() if not toml.startswith(k)}, cwd=tmp_path)
    assert "hunter2" not in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_file_booleans_take_effect(tmp_path: Path) -> None:
    (tmp_path / "bench.toml").write_text("stacks = false\nforce = true\nworkers = 100\n")
    cfg = resolve({"preset": "smoke", "out": str(tmp_path)}, cwd=tmp_path)
    assert (cfg.stacks, cfg.force, cfg.workers) == (False, True, 100)


@pytest.mark.parametrize("name", ["bench.toml", "pyproject.toml"])
def test_non_utf8_config_file_is_one_error(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b'[tool.bench]\ntrials = 4\n# caf\xe9\n')
    with pytest.raises(ConfigError, match=f"{name} is not UTF-8"):
        resolve({"out": str(tmp_path)}, cwd=tmp_path)


@pytest.mark.parametrize("toml", ["tool = 5", '[tool]\nbench = "x"'])
def test_pyproject_with_odd_tool_table_is_ignored(tmp_path: Path, toml: str) -> None:
    (tmp_path / "pyproject.toml").write_text(toml + "\n")
    assert resolve({"preset": "smoke", "out": str(tmp_path)}, cwd=tmp_path).trials == 4


def test_strategies_from_the_file_beat_the_commands_default(tmp_path: Path) -> None:
    """`strategies = ["pool"]` in bench.toml and a bare `bench compare`: pool, not all seven."""
    (tmp_path / "bench.toml").write_text('strategies = ["pool"]\n')
    cfg = resolve({"out": str(tmp_path)}, cwd=tmp_path, defaults={"strategies": "all"})
    assert cfg.strategies == ("pool",)
    cfg = resolve({"out": str(tmp_path), "strategies": "ray"}, cwd=tmp_path, defaults={"strategies": "all"})
    assert cfg.strategies == ("ray",)


def test_the_commands_default_applies_without_a_file(tmp_path: Path) -> None:
    from bench.strategies import names

    cfg = resolve({"out": str(tmp_path)}, cwd=tmp_path, defaults={"strategies": "all"})
    assert cfg.strategies == names()


def test_presets_and_the_preset_type_agree() -> None:
    import typing

    hints = typing.get_type_hints(Config, include_extras=True)
    assert set(typing.get_args(hints["preset"])) == set(config.PRESETS)

