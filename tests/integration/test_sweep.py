"""`bench sweep` for real: the pool strategy at 1 and 2 workers, as a subprocess, smoke-sized."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.analysis.scaling import EXACT, NOT_FITTED, load_sweep, speedup_at, strategy_sweeps
from probes.machine import usable_cores

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(usable_cores() < 2, reason="a 2-worker point needs 2 usable cores to be fitted")
def test_pool_sweep_writes_points_fits_plot_and_report(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "sweep", "--strategy", "pool", "--workers", "1,2",
         "--population", "16", "--generations", "3", "--trials", "4", "--seeds", "1",
         "--no-stacks", "-o", str(tmp_path), "--name", "s"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "estimate: about" in proc.stderr
    sweep_dir = tmp_path / "s"
    doc = load_sweep(sweep_dir)
    assert doc["status"] == "complete"
    assert doc["strategies"] == ["pool"] and doc["workers"] == [1, 2]
    assert doc["order"] == [["pool", 1], ["pool", 2]]
    data = strategy_sweeps(doc)["pool"]
    assert data["machine"]["usable_cores"] >= 1 and data["machine"]["id"]

    points = data["points"]
    assert [p["workers"] for p in points] == [1, 2]
    assert points[0]["speedup"] == pytest.approx(1.0)
    assert points[0]["efficiency"] == pytest.approx(1.0)
    for p in points:
        assert p["throughput"] > 0 and p["wall"] > 0
        assert p["speedup"] > 0
    assert points[1]["efficiency"] == pytest.approx(points[1]["speedup"] / 2)

    # Each count ran the same search, in its own results directory, with its own worker count.
    for n, run in zip((1, 2), data["runs"], strict=True):
        assert run["status"] == "ok" and run["trials_done"] == 4
        meta = json.loads((sweep_dir / run["dir"] / "run.json").read_text())
        assert meta["config"]["workers"] == n
        assert meta["config"]["trials"] == 4 and meta["config"]["population"] == 16

    fits = data["fits"]
    assert fits["amdahl"]["status"] == EXACT
    assert 0.0 <= fits["amdahl"]["params"]["s"]["value"] <= 1.0
    assert fits["usl"]["status"] == NOT_FITTED
    assert {p["cores"] for p in data["predictions"]} == set(data["cores"])
    assert speedup_at(data, 64).speedup is not None

    png = sweep_dir / "sweep.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (sweep_dir / "sweep.md").read_text()
    assert "## Fits" in md and "under-determined" in md
