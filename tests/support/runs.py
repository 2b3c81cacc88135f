"""One strategy through the real CLI (`python -m bench run`), as a user would run it, and what it
left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Smallest real search: GA population 16, 3 generations, one seed, 4 trials on 2 workers.
TINY = ["--preset", "smoke", "-n", "4", "-g", "3", "-s", "1", "-p", "16", "-w", "2",
        "--sampler", "random", "--no-stacks"]

@dataclass
class RunResult:
    """What one `bench run` left: its exit code, the run record, the trial records, stderr."""

    code: int
    run: dict[str, Any]
    trials: list[dict[str, Any]]
    path: Path
    wall: float
    stderr: str

    @property
    def span(self) -> float:
        """Seconds from the run's start (run.json `created`, where --timeout counts from) to its
        recorded end: unlike `wall`, not inflated by interpreter start-up on a loaded machine."""
        meta = json.loads((self.path / "run.json").read_text())
        return float(meta["end"]) - float(meta["created"])

    def by_number(self) -> dict[int, dict[str, Any]]:
        return {int(t["number"]): t for t in self.trials}

    def states(self) -> dict[int, str]:
        return {n: t["state"] for n, t in sorted(self.by_number().items())}


def run_bench(tmp_path: Path, strategy: str, *args: str, timeout: float = 120) -> RunResult:
    """`python -m bench run --strategy NAME` on the tiny search, as a user would run it."""
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "run", "--strategy", strategy, *TINY, *args,
           "-o", str(out), "--name", "r", "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    started = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.time() - started
    rd = out / "r"
    runs = read_jsonl(rd / "runs.jsonl")
    label = strategy
    run = next((r for r in reversed(runs) if r.get("run") == label), {})
    trials = [t for t in read_jsonl(rd / "trials.jsonl") if t.get("run") == label]
    # The children's own output (tracebacks included) is in the results directory's log.
    log = rd / "bench.log"
    children = log.read_text(errors="replace") if log.is_file() else ""
    return RunResult(proc.returncode, run, trials, rd, wall, proc.stderr + children)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
