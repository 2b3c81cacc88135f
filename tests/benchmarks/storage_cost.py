"""Storage time per trial on this machine, per backend, and how it grows with processes.

1. `bench run --strategy optuna-journal -w 2` with a no-op objective on each backend (journal
   file, SQLite, PostgreSQL): storage milliseconds per trial and share of the workers' time.
2. `bench sweep --strategy optuna-journal -w 1,2,4,8` with the same objective on PostgreSQL:
   trials per second and storage share at each count, and the sweep's STORAGE_BOUND, if any.

PostgreSQL is a throwaway server of its own (tests/support/postgres.py; needs the Debian package
`postgresql` and the `postgres` extra). Every figure comes from the recorded results.
`--async-commit` runs the server with synchronous_commit=off (a commit does not wait for its WAL
flush): the difference is what the disk's flush latency costs each trial.
Usage: python tests/benchmarks/storage_cost.py [--trials 100] [--sweep-trials 200] [--async-commit]
       [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

OBJECTIVE = "tests.fixtures.objectives:noop"


def _bench(*argv: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench {argv[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def backends(out: Path, url: str, trials: int) -> None:
    from bench.analysis.diagnose import Recorded

    print(f"## 2 workers, {trials} no-op trials, optuna-journal")
    print("| backend | storage ms / trial | storage share | trials/s |")
    print("|---|---:|---:|---:|")
    for name, storage in (("journal", None), ("sqlite", f"sqlite:///{out / 'study.db'}"),
                          ("postgresql", url)):
        extra = ["--storage", storage] if storage else []
        _bench("run", "--strategy", "optuna-journal", "--preset", "smoke", "-n", str(trials), "-w", "2",
               "--sampler", "random", "--objective", OBJECTIVE, "--no-stacks", "--no-report",
               *extra, "-o", str(out), "--name", name)
        s = Recorded.load(out / name).summaries["optuna-journal"]
        per = None if s.storage_per_trial is None else s.storage_per_trial * 1000
        print(f"| {s.storage} | {per:.1f} | {s.storage_share:.0%} | {s.throughput:.1f} |")


def sweep(out: Path, url: str, trials: int) -> None:
    _bench("sweep", "--strategy", "optuna-journal", "--preset", "smoke", "-n", str(trials),
           "-w", "1,2,4,8", "--sampler", "random", "--objective", OBJECTIVE, "--no-stacks",
           "--no-estimate", "--storage", url, "-o", str(out), "--name", "sweep")
    entry = json.loads((out / "sweep" / "sweep.json").read_text())["sweeps"]["optuna-journal"]
    print(f"\n## sweep on PostgreSQL, {trials} no-op trials per count")
    print("| processes | trials/s | storage share | storage ms / trial |")
    print("|---:|---:|---:|---:|")
    for r in entry["runs"]:
        per = r.get("storage_per_trial_s")
        print(f"| {r['workers']} | {r['throughput']:.1f} | {r['storage_share']:.0%} "
              f"| {'-' if per is None else f'{per * 1000:.1f}'} |")
    for f in entry.get("findings") or []:
        print(f"\n{f['code']} ({f['severity']}): {f['explanation']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--sweep-trials", type=int, default=200)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--async-commit", action="store_true", help="PostgreSQL with synchronous_commit=off")
    args = p.parse_args()
    from tests.support import postgres

    bins = postgres.bin_dir()
    if bins is None:
        raise SystemExit("no PostgreSQL server binaries (apt-get install postgresql)")
    out = args.out or Path(tempfile.mkdtemp(prefix="corebench-storage-"))
    settings = {"synchronous_commit": "off"} if args.async_commit else None
    with postgres.server(bins, settings) as pg:
        backends(out, pg.url, args.trials)
        sweep(out, pg.url, args.sweep_trials)
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
