"""Writing fails cleanly, through the real CLI: a disk that fills mid-run, a results directory
removed mid-run, a read-only or full target for the report's plots. Each ends with one line
(what failed, where, what was saved), exit 1 for a run that had to stop and 2 for a bad target,
no traceback, no process left (conftest), and the partial results readable.

Small filesystems are tmpfs mounts (root only; skipped elsewhere).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.runs import REPO

FIXTURE = REPO / "tests" / "fixtures" / "dispatch"
GA = ["--preset", "smoke", "-n", "8", "-g", "3", "-s", "1", "-p", "16", "-w", "2", "--yes"]
Mount = Callable[..., Path]


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Mount]:
    """mount(size_kb, ro=False): a fresh tmpfs of that size; unmounted after the test."""
    points: list[Path] = []

    def make(size_kb: int, ro: bool = False) -> Path:
        point = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
        point.mkdir()
        opts = f"size={size_kb}k" + (",ro" if ro else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        points.append(point)
        return point

    yield make
    for point in points:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def bench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr and "sink failed" not in stderr, stderr
    return [ln for ln in stderr.splitlines() if ln.startswith("bench: error:")]


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_stops_it_with_one_line(tmp_path: Path, mount: Mount) -> None:
    out = mount(40)
    # 24 trials a run: more records than 40 kB hold, so the disk fills before the plan ends.
    proc = bench("compare", "--strategies", "pool", *GA, "-n", "24", "-o", str(out), "--name", "full")
    assert proc.returncode == 1, proc.stderr
    [line] = errors(proc.stderr)
    assert "run stopped: cannot write" in line and "No space left on device" in line, line
    assert "saved so far:" in line and str(out / "full") in line
    # No strategy starts after the disk filled: at most the finished runs and the one that hit it.
    m = re.search(r"runs finished: (\d+) of (\d+)", line)
    assert m, line
    started = proc.stderr.count("] started (pid")
    assert started <= int(m.group(1)) + 1 and int(m.group(1)) < int(m.group(2)), proc.stderr
    report = bench("report", str(out / "full"), "--out", str(tmp_path / "rep" / "report.md"))
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in report.stderr


@pytest.mark.slow
def test_a_results_dir_removed_mid_run_stops_it_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    rd = tmp_path / "out" / "gone"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "compare", "--strategies", "pool", *GA, "-o", str(tmp_path / "out"),
         "--name", "gone"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (rd / "trials.jsonl").exists():
            time.sleep(0.2)
        assert (rd / "trials.jsonl").exists(), "no trial was recorded"
        # Gone at one instant, then deleted: an rmtree in place races the run's next file
        # (ENOTEMPTY on a loaded machine); after the rename every path bench writes is gone.
        moved = tmp_path / "moved"
        os.rename(rd, moved)
        shutil.rmtree(moved)
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    [line] = errors(stderr)
    assert "run stopped" in line and "the results directory is gone" in line, line


def test_a_read_only_target_for_the_report_is_one_line_and_exit_2(tmp_path: Path, mount: Mount) -> None:
    ro = mount(1024, ro=True)
    proc = bench("report", str(FIXTURE), "--out", str(ro / "report.md"))
    assert proc.returncode == 2, proc.stderr
    [line] = errors(proc.stderr)
    assert str(ro) in line and "Read-only file system" in line, line


def test_a_disk_that_fills_while_plotting_is_one_line_and_no_half_png(tmp_path: Path, mount: Mount) -> None:
    full = mount(24)
    proc = bench("report", str(FIXTURE), "--out", str(full / "report.md"))
    assert proc.returncode == 2, proc.stderr
    [line] = errors(proc.stderr)
    assert "cannot write plot" in line and "No space left on device" in line, line
    assert not [p for p in full.iterdir() if p.suffix == ".png" or p.name.endswith(".tmp.png")]


def test_a_bad_out_is_refused_before_anything_runs(tmp_path: Path, mount: Mount) -> None:
    ro = mount(64, ro=True)
    (tmp_path / "file").write_text("")
    for out in (ro, tmp_path / "file"):
        proc = bench("run", "--strategy", "sequential", *GA, "-o", str(out), "--name", "x", timeout=60)
        assert proc.returncode == 2, proc.stderr
        [line] = errors(proc.stderr)
        assert str(out) in line and ("not writable" in line or "not a directory" in line), line
        assert "started" not in proc.stderr
