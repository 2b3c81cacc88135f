"""The rules on recorded live jobs (tests/fixtures/live, made by make_live_fixtures.py from real
`bench attach` runs): each fixture's findings and none of the wrong ones, through the results
directory and through diagnose_samples; THROTTLED and STEAL from recorded kernel counters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.analysis.diagnose import Recorded, analyse, diagnose_samples
from bench.analysis.diagnose import findings as F
from bench.report import live
from tests.support.runs import read_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LIVE = sorted(p for p in (FIXTURES / "live").iterdir() if (p / "fixture.json").is_file())


def fixture(path: Path) -> dict[str, Any]:
    return dict(json.loads((path / "fixture.json").read_text()))


@pytest.mark.parametrize("path", LIVE, ids=[p.name for p in LIVE])
def test_live_fixture_findings(path: Path) -> None:
    fx = fixture(path)
    d = analyse(Recorded.load(path))
    (label,) = d.recorded.labels
    assert d.contexts[label].live
    codes = [f.code for f in d.findings[label]]
    assert set(fx["expect"]) <= set(codes), codes
    assert not set(fx["forbid"]) & set(codes), codes
    # the same rules from the samples alone, as bench watch will call them
    meta = json.loads((path / "run.json").read_text())
    again = diagnose_samples(read_jsonl(path / "samples.jsonl"), meta)
    assert [f.code for f in again] == codes
    # the verdict names the root cause first (or HEALTHY), in one line
    line = live.verdict_line(d, label)
    assert line.startswith(f"**{fx['expect'][0]}**")


def test_stalled_says_where_every_thread_waits() -> None:
    d = analyse(Recorded.load(FIXTURES / "live" / "blocked_study"))
    (stall,) = [f for f in d.findings["attach"] if f.code == F.STALLED]
    waits = stall.evidence["waits"]
    workers = [v for k, v in waits.items() if "ThreadPoolExecutor" in k]
    assert len(workers) == 2 and all("objective (blocked_study.py" in v for v in workers)
    assert all(v.endswith("Event.wait") for v in workers)
    assert stall.evidence["children_alive"] == 0
    assert "No child process is alive" in stall.explanation


def test_oversubscribed_names_the_processes_pools_and_what_to_set() -> None:
    d = analyse(Recorded.load(FIXTURES / "live" / "pool_default_threads"))
    (ov,) = [f for f in d.findings["attach"] if f.code == F.OVERSUBSCRIBED]
    assert ov.evidence["runnable_per_core"] >= 2.0
    assert ov.evidence["working_processes"] == 2
    assert len(ov.evidence["runnable_by_process"]) == 2
    assert "PyTorch intra-op" in ov.evidence["thread_pools"]
    assert ov.evidence["threads_per_worker_to_set"] == 1
    assert "OMP_NUM_THREADS=1" in ov.action and "torch.set_num_threads(1)" in ov.action


def test_throttled_from_the_recorded_cgroup_counters() -> None:
    d = analyse(Recorded.load(FIXTURES / "live" / "throttled_pool"))
    (th,) = [f for f in d.findings["attach"] if f.code == F.THROTTLED]
    assert th.evidence["cpu_quota_cores"] == 1.0 and th.evidence["usable_cores"] == 1
    assert th.evidence["throttled_share"] >= 0.5 and th.severity == F.ERROR
    # without the throttle counters the same samples show no THROTTLED
    samples = [
        {k: v for k, v in s.items() if k not in ("cpu_quota", "throttle")}
        for s in read_jsonl(FIXTURES / "live" / "throttled_pool" / "samples.jsonl")
    ]
    codes = [f.code for f in diagnose_samples(samples, {"usable_cores": 1})]
    assert F.THROTTLED not in codes


def test_steal_from_recorded_proc_stat() -> None:
    from probes.tree.procfs import parse_proc_stat, steal_pct

    before = parse_proc_stat((FIXTURES / "proc_stat" / "quiet_0.txt").read_text(), tick=1.0)
    quiet = parse_proc_stat((FIXTURES / "proc_stat" / "quiet_1.txt").read_text(), tick=1.0)
    stolen = parse_proc_stat((FIXTURES / "proc_stat" / "stolen_1.txt").read_text(), tick=1.0)
    path = FIXTURES / "live" / "pool_one_thread"
    meta = json.loads((path / "run.json").read_text())
    samples = read_jsonl(path / "samples.jsonl")

    def with_steal(pct: float) -> list[str]:
        tagged = [dict(s, steal_pct=pct) if s.get("kind") == "tree" else s for s in samples]
        return [f.code for f in diagnose_samples(tagged, meta)]

    quiet_codes = with_steal(steal_pct(before[0], quiet[0]))
    assert F.STEAL not in quiet_codes and F.HEALTHY in quiet_codes
    stolen_codes = with_steal(steal_pct(before[0], stolen[0]))
    assert F.STEAL in stolen_codes and F.HEALTHY not in stolen_codes


def test_healthy_never_beside_a_problem() -> None:
    for path in LIVE:
        d = analyse(Recorded.load(path))
        fs = d.findings["attach"]
        problems = [f for f in fs if f.severity in (F.ERROR, F.WARNING) and f.code != F.CONTENDED]
        assert not (problems and any(f.code == F.HEALTHY for f in fs)), path.name


def test_live_report_renders_verdict_summary_and_findings(tmp_path: Path) -> None:
    from bench.report.markdown import render

    d = analyse(Recorded.load(FIXTURES / "live" / "blocked_study"))
    text = live.render(_parts(d, tmp_path))
    assert text == render(_parts(d, tmp_path))  # the compare renderer hands a live job here
    head, rest = text.split("## Summary", 1)
    assert "**STALLED**" in head and "pid " in head
    assert "## Findings" in rest and "runbooks/STALLED.md" in rest and "*Next:*" in rest
    assert "## Plots" in rest and "Cost" not in rest


def _parts(d: Any, report_dir: Path) -> Any:
    return live.parts(d, report_dir)


def test_python_threads_on_one_gil_are_not_oversubscription() -> None:
    """4 GIL-bound threads of one process all count as runnable (each gets its share of a core),
    yet they take turns on the GIL, not on the cores: GIL_BOUND, not OVERSUBSCRIBED."""
    path = FIXTURES / "live" / "gil_threads"
    meta = json.loads((path / "run.json").read_text())
    samples = read_jsonl(path / "samples.jsonl")
    for s in samples:
        for p in s.get("procs") or []:
            if s.get("kind") == "tree" and p.get("is_root"):
                p["busy_threads"] = 4  # 2 per core: OVERSUBSCRIBED's bar
    codes = [f.code for f in diagnose_samples(samples, meta)]
    assert F.GIL_BOUND in codes and F.OVERSUBSCRIBED not in codes
    # the same count in a process whose threads are not Python ones is oversubscription
    pool = read_jsonl(FIXTURES / "live" / "pool_default_threads" / "samples.jsonl")
    codes = [f.code for f in diagnose_samples(pool, meta)]
    assert F.OVERSUBSCRIBED in codes
