"""`--study-name`: the rules checked before anything starts, and joining a study in a storage
(tests/integration/test_shared_storage.py runs two real processes on one study)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.strategies._study import join_study


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--strategy", "optuna-journal"], "--study-name needs --storage"),
        (["--strategy", "pool", "--storage", "sqlite:///{db}"], "only optuna-journal"),
        (["--strategy", "optuna-journal,pool", "--storage", "sqlite:///{db}"], "only optuna-journal"),
        (["--strategy", "optuna-journal", "--storage", "sqlite:///{db}", "--study-name", " "],
         "study_name = ' ' (from --study-name): must be non-empty"),
    ],
    ids=["no-storage", "other-strategy", "two-strategies", "blank"],
)
def test_study_name_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    db = tmp_path / "s.db"
    argv = ["run", "--preset", "smoke", "-o", str(tmp_path), "--study-name", "s",
            *[a.format(db=db) for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not db.exists(), "nothing may touch the storage before the config is valid"


def test_a_sweep_refuses_a_shared_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", "--strategy", "optuna-journal", "-w", "1,2", "--preset", "smoke", "-o", str(tmp_path),
            "--storage", f"sqlite:///{tmp_path / 's.db'}", "--study-name", "s", "--no-estimate"]
    assert main(argv) == 2
    assert "bench sweep runs every worker count on a fresh study" in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists()


def test_join_creates_then_loads_the_same_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = join_study(url, "s", "maximize", optuna.samplers.RandomSampler(seed=0))
    first.add_trial(optuna.trial.create_trial(value=1.0))
    second = join_study(url, "s", "maximize", optuna.samplers.RandomSampler(seed=1))
    assert [t.value for t in second.trials] == [1.0]


@pytest.mark.parametrize("where", ["sqlite", "journal"])
def test_join_refuses_a_study_of_the_other_direction(tmp_path: Path, where: str) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}" if where == "sqlite" else str(tmp_path / "s.journal")
    join_study(storage, "s", "minimize", None)
    with pytest.raises(ConfigError, match="is set to minimize, this run to maximize"):
        join_study(storage, "s", "maximize", None)


def test_join_errors_are_one_line_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        join_study("nosuchdialect://bob:s3cret@db/optuna", "s", "minimize", None)
    assert "s3cret" not in str(info.value) and "cannot open study 's'" in str(info.value)


def test_run_json_masks_the_storage_password_and_the_child_gets_it_from_env(tmp_path: Path) -> None:
    from bench.config import STORAGE_ENV, Config
    from bench.run.runner import _child_env, create_run_dir

    url = "postgresql://bench:hunter2@db.internal/optuna"
    cfg = Config(out=str(tmp_path), storage=url, strategies=("optuna-journal",))
    argv = ["bench", "compare", "--storage", url, "--study-name", "s"]
    rd = create_run_dir(cfg, argv, name="masked")
    text = (rd.path / "run.json").read_text()
    assert "hunter2" not in text
    meta = rd.meta()
    assert meta["config"]["storage"] == "postgresql://bench:***@db.internal/optuna"
    assert meta["command"][3] == "postgresql://bench:***@db.internal/optuna"
    assert _child_env(cfg)[STORAGE_ENV] == url
