"""The trial tracer alone (no bench watch around it): it records what Optuna records and changes
nothing a program sees, and steps aside where it cannot install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.trial.tracer import SITE_DIR, TRACE_FILE, traced_env
from tests.support.runs import REPO, read_jsonl

SCRIPTS = REPO / "tests" / "scripts"


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPTS / script)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)



def test_tracer_records_every_state_and_changes_nothing(tmp_path: Path) -> None:
    plain = _run("watch_trial_states.py", {**os.environ})
    traced = _run("watch_trial_states.py", traced_env(os.environ, tmp_path, "watch"))
    assert traced.returncode == plain.returncode == 0
    assert traced.stdout == plain.stdout  # same trials, same states, values, exceptions
    assert traced.stderr == plain.stderr
    study = {n: (state, value) for n, state, value, _ in json.loads(plain.stdout.splitlines()[-1])}
    records = {t["number"]: t for t in read_jsonl(tmp_path / "trials.jsonl")}
    assert records.keys() == study.keys()
    names = {"COMPLETE": "complete", "FAIL": "failed", "PRUNED": "pruned"}
    for n, (state, value) in study.items():
        assert records[n]["state"] == names[state], n
        assert records[n]["value"] == value
    assert "ZeroDivisionError" in records[13]["error"]
    assert {t["mode"] for n, t in records.items() if n in (10, 11, 12)} == {"ask_tell"}
    events = read_jsonl(tmp_path / TRACE_FILE)
    assert [e["status"] for e in events if e["event"] == "hook"] == ["installed"]
    assert len([e for e in events if e["event"] == "ask"]) == len(study)


def test_unknown_optuna_version_is_left_alone(tmp_path: Path) -> None:
    env = traced_env(os.environ, tmp_path, "watch")
    env["PYTHONPATH"] += os.pathsep + str(SCRIPTS / "old_optuna")
    code = "import optuna; s = optuna.study.Study(); print(s.ask(), s.optimize(None), optuna.__version__)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.split() == ["7", "old", "optimize", "2.10.1"]
    hook = [e for e in read_jsonl(tmp_path / TRACE_FILE) if e["event"] == "hook"]
    assert [(h["status"], h["optuna"], h["reason"]) for h in hook] == [
        ("not installed", "2.10.1", "unsupported version")
    ]
    assert not (tmp_path / "trials.jsonl").exists()


def test_unwritable_trace_dir_changes_nothing(tmp_path: Path) -> None:
    env = traced_env(os.environ, tmp_path / "missing" / "dir", "watch")
    plain = _run("watch_trial_states.py", {**os.environ})
    traced = _run("watch_trial_states.py", env)
    assert (traced.returncode, traced.stdout, traced.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_without_the_env_var_the_hook_does_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SITE_DIR)}
    env.pop("COREBENCH_TRACE_DIR", None)
    code = ("import optuna, sys; "
            "print(hasattr(optuna.study.Study, '_corebench_traced'), '_corebench_trace' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["False", "False"]
