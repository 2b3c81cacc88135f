"""The shipped gate rules pass a real smoke run and fail when a real regression is injected.

Regressions are made from recorded data, not invented numbers: the results of `pool@unlimited`
(or of `optuna-threads`) are relabelled as `pool`, which is what a results dir looks like after
someone's change forces unlimited threads on the pool (or quietly moves it back to threads).
The same run shows the diagnosis flag the pool with unlimited threads when it is slower.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.analysis.diagnose import analyse
from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose.recorded import Recorded

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "pyproject.toml"


# `.ci/run` runs the smoke comparison of every strategy before the tests and names it here, so
# this module reads that run (its strategies are a superset of this module's) instead of running
# a second one.
SMOKE_ENV = "COREBENCH_SMOKE_RESULTS"
NEEDED = {"optuna-threads", "pool", "pool@unlimited", "joblib-loky", "optuna-journal"}


def _given_smoke_run() -> Path | None:
    given = os.environ.get(SMOKE_ENV)
    if not given:
        return None
    path = Path(given)
    runs = path / "runs.jsonl"
    assert runs.is_file(), f"{SMOKE_ENV}={given}: no runs.jsonl there"
    labels = {json.loads(line).get("run") for line in runs.read_text().splitlines() if line.strip()}
    assert NEEDED <= labels, f"{SMOKE_ENV}={given} lacks runs {sorted(NEEDED - labels)}"
    return path


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (given := _given_smoke_run()) is not None:
        copy = tmp_path_factory.mktemp("gate") / "smoke"
        shutil.copytree(given, copy)  # the tests read it; a copy keeps CI's report as it was
        return copy
    out = tmp_path_factory.mktemp("gate")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "compare", "--preset", "smoke", "--strategies",
         "optuna-threads,pool,pool@unlimited,joblib-loky,optuna-journal", "-o", str(out),
         "--name", "smoke", "--no-report"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "smoke"


def _gate(results: Path, rules: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "gate", str(results), "--config", str(rules),
         "--summary", str(tmp_path / "gate.md")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )


def _rules_without_ray(tmp_path: Path) -> Path:
    # Ray is gated in CI's full smoke run; this module's run leaves it out to stay quick.
    text = SHIPPED.read_text().replace(
        "[tool.bench.gate.ray]\nmin_processes = 2", "[tool.bench.gate.ray]\nrequired = false\nmin_processes = 2"
    )
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def _relabel(src: Path, dst: Path, source_label: str, as_label: str) -> Path:
    """Copy a results dir, dropping `as_label`'s own records and renaming `source_label` to it."""
    shutil.copytree(src, dst)
    for name in ("runs.jsonl", "trials.jsonl", "samples.jsonl", "heartbeats.jsonl"):
        path = dst / name
        if not path.exists():
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept = []
        for row in rows:
            if row.get("run") == as_label:
                continue
            if row.get("run") == source_label:
                row["run"] = as_label
                if name == "runs.jsonl":
                    row["strategy"] = as_label
            kept.append(row)
        path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return dst


def test_shipped_rules_pass_a_real_smoke_run(smoke_run: Path, tmp_path: Path) -> None:
    result = _gate(smoke_run, _rules_without_ray(tmp_path), tmp_path)
    assert result.returncode == 0, result.stdout
    assert "✅ pass" in result.stdout
    assert (tmp_path / "gate.md").read_text() == result.stdout.rstrip("\n") + "\n"


def test_pool_forced_to_unlimited_threads_fails(smoke_run: Path, tmp_path: Path) -> None:
    bad = _relabel(smoke_run, tmp_path / "bad", "pool@unlimited", "pool")
    result = _gate(bad, _rules_without_ray(tmp_path), tmp_path)
    rows = [line for line in result.stdout.splitlines() if line.startswith("| pool |")]
    if result.returncode == 1:
        assert any("❌" in line for line in rows), result.stdout
    else:
        # A loaded machine (CI beside other jobs): the speed of a contended run is not judged,
        # and the gate says so; it never calls that speedup a pass.
        assert result.returncode == 0 and "CONTENDED" in result.stdout, result.stdout
        assert any("min_speedup" in line and "⚠️ inconclusive" in line for line in rows), result.stdout


def test_pool_that_ran_as_threads_fails(smoke_run: Path, tmp_path: Path) -> None:
    bad = _relabel(smoke_run, tmp_path / "bad", "optuna-threads", "pool")
    result = _gate(bad, _rules_without_ray(tmp_path), tmp_path)
    assert result.returncode == 1, result.stdout
    assert any("| pool | min_processes | 1 |" in line for line in result.stdout.splitlines()), result.stdout


def test_baseline_from_another_machine_is_refused(smoke_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(smoke_run, other)
    meta = json.loads((other / "run.json").read_text())
    meta["machine"]["id"] = "0123456789ab"
    meta["machine"]["usable_cores"] = 128
    (other / "run.json").write_text(json.dumps(meta))
    cmd = [sys.executable, "-m", "bench", "gate", str(smoke_run), "--baseline", str(other),
           "--config", str(_rules_without_ray(tmp_path))]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert refused.returncode == 2 and "another machine" in refused.stderr
    allowed = subprocess.run([*cmd, "--allow-different-machine"], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path)
    assert allowed.returncode in (0, 1) and "baseline" in allowed.stdout


def test_pool_with_unlimited_threads_is_flagged_when_slower(smoke_run: Path) -> None:
    diagnosis = analyse(Recorded.load(smoke_run))
    contexts = diagnosis.contexts
    limited, unlimited = contexts["pool"].summary.speedup, contexts["pool@unlimited"].summary.speedup
    assert limited is not None and unlimited is not None
    codes = {f.code for f in diagnosis.findings.get("pool@unlimited", [])}
    if unlimited < 0.9 * limited:
        assert codes & {F.OVERSUBSCRIBED, F.SPIN_WAIT}, (limited, unlimited, codes)
    else:  # not slower on this run: then nothing may claim it was
        assert F.OVERSUBSCRIBED not in codes, (limited, unlimited, codes)
