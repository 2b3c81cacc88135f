"""Finding rules on small hand-checked synthetic runs (tests/fixtures/synthetic.py) and on the
recorded real fixtures (tests/fixtures/<name>/, made by tests/fixtures/make_fixtures.py)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, is_typeddict

import pytest

from bench.analysis.diagnose import (
    CODES,
    Finding,
    Recorded,
    analyse,
    diagnose,
    diagnose_run,
    diagnose_samples,
    run_metrics,
)
from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose import thresholds as th
from bench.analysis.diagnose.findings import REGISTRY, runbook_for, stalled
from bench.analysis.diagnose.observe import cpu_cores, longest_gap, peak_overlap, runnable_threads
from bench.errors import ResultsError
from tests.support import synthetic as S

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REAL = sorted(p.parent for p in FIXTURES.glob("*/fixture.json"))




def recorded(sim: Any, **cfg: Any) -> Recorded:
    return Recorded.from_records(S.meta(**cfg), sim.runs, sim.trials, sim.samples, sim.heartbeats)


def codes(rec: Recorded) -> dict[str, list[str]]:
    d = analyse(rec)
    return {label: [f.code for f in fs] for label, fs in d.findings.items()}


def with_baseline(**kw: Any) -> Any:
    sim = S.Sim()
    S.simulate(sim, "sequential", trials=4, trial_s=2.0)
    return sim


# --- the seed story -----------------------------------------------------------------------------
def test_seed_story_findings_per_run() -> None:
    got = codes(recorded(S.seed_story()))
    assert got["sequential"] == [F.HEALTHY]
    assert got["optuna-threads"] == [F.GIL_BOUND, F.THREADS_NOT_PROCESSES]
    assert got["pool"] == [F.HEALTHY]
    assert got["pool@unlimited"] == [F.OVERSUBSCRIBED]


def test_gil_bound_from_stacks_carries_its_numbers() -> None:
    d = analyse(recorded(S.seed_story()))
    gil = d.findings["optuna-threads"][0]
    assert gil.code == F.GIL_BOUND and gil.severity == F.ERROR
    # stacks: 1 holder + 1 waiter + 1 idle per sample -> 1 waiter of 2 active
    assert gil.evidence["source"] == "stacks"
    assert gil.evidence["gil_wait_share"] == 0.5
    assert gil.evidence["active_python_threads_mean"] == 2.0
    assert gil.evidence["process_cpu_pct_median"] == 100.0
    assert gil.runbook == "runbooks/GIL_BOUND.md"
    assert "GIL" in gil.explanation and "pool" in gil.action


def test_threads_not_processes_evidence() -> None:
    d = analyse(recorded(S.seed_story()))
    tnp = next(f for f in d.findings["optuna-threads"] if f.code == F.THREADS_NOT_PROCESSES)
    assert tnp.evidence["trials_in_flight_peak"] == 2
    assert tnp.evidence["trial_pids"] == 1
    # speedup 1.0 over 2 workers = 50 %: not an error (< 50 %), but below HEALTHY's bar
    assert tnp.severity == F.WARNING


def test_gil_bound_inferred_from_cpu_without_stacks() -> None:
    d = analyse(recorded(S.seed_story(stacks=False)))
    gil = next(f for f in d.findings["optuna-threads"] if f.code == F.GIL_BOUND)
    assert gil.evidence["source"] == "cpu"
    assert gil.evidence["trials_in_flight_peak"] == 2
    assert "no stack samples" in gil.explanation and gil.evidence["stack_samples"] == 0


def test_threads_that_use_two_cores_are_not_gil_bound() -> None:
    sim = with_baseline()
    # native code releasing the GIL: 2 trials in one process, 200 % CPU, trials as fast as alone
    S.optuna_threads_run(sim, trial_s=2.0, proc_cpu=200.0, stacks={"native": 2, "idle": 1})
    got = codes(recorded(sim))["optuna-threads"]
    assert F.GIL_BOUND not in got
    # the trials are still threads, a fact worth knowing but not a problem at 100 % efficiency
    d = analyse(recorded(sim))
    tnp = next(f for f in d.findings["optuna-threads"] if f.code == F.THREADS_NOT_PROCESSES)
    assert tnp.severity == F.INFO
    assert F.HEALTHY in got


def test_gil_bound_needs_more_than_one_core() -> None:
    got = codes(recorded(S.seed_story(cores=1), cores=1))
    assert F.GIL_BOUND not in got["optuna-threads"]


# --- OVERSUBSCRIBED -------------------------------------------------------------------------------
def test_oversubscribed_evidence_names_the_limited_run() -> None:
    d = analyse(recorded(S.seed_story()))
    ov = d.findings["pool@unlimited"][0]
    assert ov.code == F.OVERSUBSCRIBED and ov.severity == F.ERROR
    assert ov.evidence["runnable_per_core"] == 3.0  # 2 processes x 3 busy threads / 2 cores
    assert ov.evidence["invol_ctx_switches_per_core_s"] == 300
    assert ov.evidence["limited_run"] == "pool"
    assert ov.evidence["throughput_vs_limited"] == pytest.approx(2 / 3, abs=0.01)


def test_oversubscribed_without_sibling_needs_threads_and_preemption() -> None:
    sim = with_baseline()
    S.simulate(
        sim,
        "pool@unlimited",
        start=20,
        workers=2,
        separate_pids=True,
        busy_threads=3,
        invol_per_core_s=300,
        threads_policy="unlimited",
        threads=None,
    )
    assert F.OVERSUBSCRIBED in codes(recorded(sim))["pool@unlimited"]
    quiet = with_baseline()
    S.simulate(
        quiet,
        "pool@unlimited",
        start=20,
        workers=2,
        separate_pids=True,
        busy_threads=3,
        invol_per_core_s=0,
        threads_policy="unlimited",
        threads=None,
    )
    assert F.OVERSUBSCRIBED not in codes(recorded(quiet))["pool@unlimited"]


def test_uncounted_context_switches_are_unknown_not_zero() -> None:
    # Some kernels report no context switches at all: the figure must be absent, not "0/s".
    sim = S.seed_story()
    for s in sim.samples:
        if s.get("kind") == "tree":
            s["ctx_invol_delta"] = s["ctx_vol_delta"] = 0
    d = analyse(recorded(sim))
    assert d.observations["pool@unlimited"].invol_per_core_s is None
    ov = d.findings["pool@unlimited"][0]
    assert ov.code == F.OVERSUBSCRIBED  # threads per core + slower than the limited run suffice
    assert "preempted" not in ov.explanation


def test_one_thread_per_core_is_not_oversubscribed() -> None:
    assert F.OVERSUBSCRIBED not in codes(recorded(S.seed_story()))["pool"]


# --- SPIN_WAIT, UNDERSUBSCRIBED, CONTENDED ------------------------------------------------------
def test_spin_wait_when_cpu_per_trial_far_above_sequential() -> None:
    sim = with_baseline()
    # both cores busy, yet each trial takes 5 s of a core against 2 s sequentially
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4, trial_s=5.0)
    d = analyse(recorded(sim))
    spin = next(f for f in d.findings["pool"] if f.code == F.SPIN_WAIT)
    assert spin.evidence["ratio"] == pytest.approx(2.5, abs=0.1)
    assert spin.evidence["sequential_core_s_per_trial"] == pytest.approx(2.0, abs=0.05)


def test_undersubscribed_when_a_parallel_run_leaves_cores_idle() -> None:
    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, slots=1, separate_pids=True, trials=4)
    d = analyse(recorded(sim))
    under = next(f for f in d.findings["pool"] if f.code == F.UNDERSUBSCRIBED)
    assert under.evidence["idle_cores"] == pytest.approx(1.0, abs=0.05)
    assert F.HEALTHY not in [f.code for f in d.findings["pool"]]


def test_cores_taken_by_other_processes_are_contended_not_idle() -> None:
    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, slots=1, separate_pids=True, trials=4)
    for s in sim.samples:
        if s.get("kind") == "tree":
            s["per_core"] = [100.0, 100.0]  # the machine is full; the run uses one core of it
    got = codes(recorded(sim))
    assert F.CONTENDED in got["pool"] and F.UNDERSUBSCRIBED not in got["pool"]
    # the baseline is still a healthy baseline; the caution stands beside it
    assert got["sequential"] == [F.CONTENDED, F.HEALTHY]


def test_a_verdict_with_only_a_contended_caution_does_not_say_no_rule_fired() -> None:
    from bench.report.verdict import verdict

    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4)
    quiet = verdict(analyse(recorded(sim)))
    assert quiet.startswith("**No problem found:** no rule fired on any run."), quiet
    _contend(sim, "sequential")
    loaded = verdict(analyse(recorded(sim)))
    assert "no rule fired" not in loaded, loaded
    assert "only the measurement's caution (CONTENDED) fired" in loaded
    assert "**Caution (CONTENDED):**" in loaded


def test_a_run_with_no_finding_either_way_is_called_inconclusive_not_fine() -> None:
    """Between UNDERSUBSCRIBED's bar and HEALTHY's no rule speaks: the verdict must not read as
    a clean bill of health for that run."""
    from bench.report.oneline import verdict_line
    from bench.report.verdict import verdict

    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4)
    d = analyse(recorded(sim))
    assert codes(recorded(sim))["pool"] == [F.HEALTHY]
    assert "inconclusive" not in verdict(d) and "inconclusive" not in verdict_line(d)
    _contend(sim, "sequential")  # the pool's efficiency is then divided by a contended baseline
    d = analyse(recorded(sim))
    assert d.findings["pool"] == []
    text = verdict(d)
    assert "`pool` has no finding either way" in text and "health inconclusive" in text, text
    assert verdict_line(d).startswith("verdict: no problem found (health inconclusive: pool)")


def _contend(sim: Any, run: str) -> None:
    for s in sim.samples:
        if s.get("kind") == "tree" and s.get("run") == run:
            s["per_core"] = [100.0, 100.0]  # others took what the run left


def test_no_strategy_is_named_on_a_ratio_a_contended_run_was_part_of() -> None:
    """The speedup is the run's rate over the baseline's: when either shared the machine, the
    verdict says the choice is inconclusive instead of naming the run; another run's contention
    only cautions."""
    from bench.report.oneline import verdict_line
    from bench.report.verdict import verdict

    def story(pool_cpu: float = 100.0, loky_cpu: float = 100.0) -> Any:
        sim = with_baseline()
        # At 50% each the pool's two workers leave a core for others to take.
        S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4,
                   proc_cpu=pool_cpu)
        S.simulate(sim, "joblib-loky", start=40, workers=2, separate_pids=True, trials=4,
                   trial_s=3.0, proc_cpu=loky_cpu)
        return sim

    quiet = analyse(recorded(story()))
    assert "**Use `pool`:**" in verdict(quiet) and "Inconclusive" not in verdict(quiet)
    assert verdict_line(quiet).endswith("use pool (2.00x sequential)"), verdict_line(quiet)
    for run in ("sequential", "pool"):
        sim = story(pool_cpu=50.0)
        _contend(sim, run)
        d = analyse(recorded(sim))
        text = verdict(d)
        assert "**Use `" not in text, text
        assert "**Inconclusive (CONTENDED):** `pool` was fastest at 2.00× sequential" in text
        assert f"held the cores during `{run}`" in text, text
        assert verdict_line(d).endswith(
            f"inconclusive: fastest pool (2.00x sequential), but {run} shared the machine "
            "(CONTENDED)"), verdict_line(d)
    sim = story(loky_cpu=50.0)
    _contend(sim, "joblib-loky")  # not part of pool's ratio
    text = verdict(analyse(recorded(sim)))
    assert "**Use `pool`:**" in text and "**Caution (CONTENDED):**" in text, text


def test_a_contended_run_whose_work_ran_niced_says_so() -> None:
    def contended(nice: int | None) -> Any:
        sim = with_baseline()
        S.simulate(sim, "ray", start=20, workers=2, separate_pids=True, trials=4, proc_cpu=50.0)
        _contend(sim, "ray")
        for s in sim.samples:
            for p in s.get("procs") or [] if s.get("run") == "ray" else []:
                if nice is not None and not p.get("is_root"):
                    p["nice"] = nice
        d = analyse(recorded(sim))
        return next(f for f in d.findings["ray"] if f.code == F.CONTENDED)

    plain = contended(None)
    assert "nice" not in plain.evidence and "nice" not in plain.explanation
    niced = contended(15)
    assert niced.evidence["nice"] == 15
    assert niced.evidence["niced_cpu_share"] == pytest.approx(0.99, abs=0.01)  # all but the root
    assert "99% of this run's CPU ran at nice 15 (Ray starts its workers at nice 15)" in (
        niced.explanation)
    other = contended(5)
    assert "ran at nice 5: the kernel" in other.explanation


def test_the_probes_own_cpu_is_not_another_jobs_load() -> None:
    """The probes (their process and its py-spy dumps) keep part of a core busy beside a tree of
    many Python processes; that is not other jobs' load. The same full machine is CONTENDED when
    the probes account for little of what the run left, and not when they account for it all."""
    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, slots=1, separate_pids=True, trials=4)
    tree = [s for s in sim.samples if s.get("kind") == "tree" and s.get("run") == "pool"]
    for s in tree:
        s["per_core"] = [100.0, 100.0]  # the run keeps one core busy; something else the other
        s["observer_cpu_s"] = 0.95 * float(s["interval"])
    got = recorded(sim)
    assert F.CONTENDED not in codes(got)["pool"]
    assert F.UNDERSUBSCRIBED not in codes(got)["pool"]  # the core was not idle either
    for s in tree:
        s["observer_cpu_s"] = 0.05 * float(s["interval"])
    d = analyse(recorded(sim))
    contended = next(f for f in d.findings["pool"] if f.code == F.CONTENDED)
    assert contended.evidence["foreign_cores_mean"] == pytest.approx(0.95, abs=0.05)
    assert contended.evidence["probe_cores_mean"] == pytest.approx(0.05, abs=0.01)


def test_an_efficiency_divided_by_a_contended_baseline_is_not_healthy() -> None:
    """A pool that is healthy beside a quiet sequential run is not called healthy when that
    sequential run shared the machine: a slowed baseline inflates the efficiency divided by it."""
    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4)
    assert codes(recorded(sim))["pool"] == [F.HEALTHY]  # the same runs, quiet
    _contend(sim, "sequential")  # others took the core the baseline left
    got = codes(recorded(sim))
    assert got["sequential"] == [F.CONTENDED, F.HEALTHY]
    assert got["pool"] == [], got  # nothing wrong seen, and no health claimed on that evidence


# --- STALLED, STARTUP_DOMINATED, DISPATCH_OVERHEAD ---------------------------------------------
def test_stalled_when_no_progress_for_long() -> None:
    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4, stall=(1, 40.0))
    d = analyse(recorded(sim))
    stall = d.findings["pool"][0]
    assert stall.code == F.STALLED and stall.severity == F.ERROR
    # slot 2 holds trial 1 from 0.2 s to 40.2 s without a beat; slot 1 runs trials 0, 2, 3 and
    # beats until 6.2 s: nothing happens from 6.2 s to 40.2 s
    assert stall.evidence["gap_s"] == pytest.approx(34.0, abs=0.01)
    assert stall.evidence["from_s"] == pytest.approx(6.2, abs=0.01)
    assert stall.evidence["limit_s"] == stalled.STALL_MIN_GAP_S


def test_short_gaps_are_not_stalls() -> None:
    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4, stall=(1, 20.0))
    assert F.STALLED not in codes(recorded(sim))["pool"]


def test_startup_dominated_only_for_parallel_runs() -> None:
    sim = S.Sim()
    S.simulate(sim, "sequential", trials=4, trial_s=2.0, startup=5.0)
    S.simulate(sim, "pool", start=30, workers=2, separate_pids=True, trials=2, startup=5.0)
    d = analyse(recorded(sim))
    start = next(f for f in d.findings["pool"] if f.code == F.STARTUP_DOMINATED)
    assert start.evidence["startup_s"] == pytest.approx(5.0, abs=0.01)
    assert start.evidence["share"] == pytest.approx(5.0 / 7.1, abs=0.01)
    assert F.STARTUP_DOMINATED not in [f.code for f in d.findings["sequential"]]


def test_dispatch_overhead_from_gaps_between_a_workers_trials() -> None:
    sim = with_baseline()
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=6, gap=0.8)
    d = analyse(recorded(sim))
    disp = next(f for f in d.findings["pool"] if f.code == F.DISPATCH_OVERHEAD)
    assert disp.evidence["gap_s_median"] == pytest.approx(0.8, abs=0.001)
    assert disp.evidence["ratio"] == pytest.approx(0.4, abs=0.01)
    tight = with_baseline()
    S.simulate(tight, "pool", start=20, workers=2, separate_pids=True, trials=6, gap=0.01)
    assert F.DISPATCH_OVERHEAD not in codes(recorded(tight))["pool"]


def test_no_healthy_without_good_efficiency() -> None:
    sim = with_baseline()
    # two processes, no rule fires, yet trials are 1.6x slower than sequential: efficiency 62 %
    S.simulate(sim, "pool", start=20, workers=2, separate_pids=True, trials=4, trial_s=3.2)
    d = analyse(recorded(sim))
    assert d.contexts["pool"].efficiency == pytest.approx(0.625, abs=0.01)
    assert F.HEALTHY not in [f.code for f in d.findings["pool"]]


def test_runs_that_never_ran_have_no_findings() -> None:
    sim = with_baseline()
    sim.runs.append(
        {
            "run": "ray",
            "strategy": "ray",
            "status": "unavailable",
            "reason": "ray is not installed",
            "workers": 2,
        }
    )
    d = analyse(recorded(sim, plan=["sequential", "ray"]))
    assert d.findings["ray"] == []
    assert run_metrics(d)["ray"]["status"] == "unavailable"


# --- live samples (bench attach) ----------------------------------------------------------------
def _live(sim: Any, label: str) -> list[dict[str, Any]]:
    return [dict(s, run="attach") for s in sim.samples if s.get("run") == label]


def test_diagnose_samples_live_threads_process() -> None:
    sim = S.seed_story()
    found = diagnose_samples(_live(sim, "optuna-threads"), {"machine": {"usable_cores": 2}})
    assert [f.code for f in found] == [F.GIL_BOUND, F.THREADS_NOT_PROCESSES]
    assert all(f.run == "attach" for f in found)


def test_diagnose_samples_live_processes_and_oversubscription() -> None:
    sim = S.seed_story()
    # a pool of 2 busy workers, one runnable thread per core: healthy, said so
    assert [f.code for f in diagnose_samples(_live(sim, "pool"), {"usable_cores": 2})] == [F.HEALTHY]
    found = diagnose_samples(_live(sim, "pool@unlimited"), {"machine": {"usable_cores": 2}})
    assert [f.code for f in found] == [F.OVERSUBSCRIBED]


def test_diagnose_samples_labels_by_pid_without_run_tag() -> None:
    sim = S.seed_story()
    samples = [{k: v for k, v in s.items() if k != "run"} for s in _live(sim, "optuna-threads")]
    found = diagnose_samples(samples, {"usable_cores": 2})
    assert found and found[0].run == f"pid {S.ROOT_PID}"


# --- files, metrics, the Finding record -----------------------------------------------------------
def test_diagnose_and_run_metrics_from_a_directory(tmp_path: Path) -> None:
    path = S.write(S.seed_story(), tmp_path / "r", S.meta())
    assert {f.code for f in diagnose(path)} == {
        F.HEALTHY,
        F.GIL_BOUND,
        F.THREADS_NOT_PROCESSES,
        F.OVERSUBSCRIBED,
    }
    m = run_metrics(path)
    assert list(m) == ["sequential", "optuna-threads", "pool", "pool@unlimited"]
    assert m["pool"]["speedup"] == pytest.approx(2.0, abs=0.01)
    assert m["pool"]["efficiency"] == pytest.approx(1.0, abs=0.01)
    assert m["pool"]["processes_expected"] == 2 and m["pool"]["processes_seen"] == 2
    assert m["optuna-threads"]["processes_seen"] == 1
    assert m["optuna-threads"]["root_cause"] == F.GIL_BOUND
    assert m["pool@unlimited"]["findings"] == [F.OVERSUBSCRIBED]
    rec = Recorded.load(path)
    assert [f.code for f in diagnose_run(rec, "pool")] == [F.HEALTHY]


def test_missing_results_directory_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError):
        diagnose(tmp_path / "nope")


def test_finding_record() -> None:
    f = Finding(F.STALLED, F.ERROR, "pool", {"gap_s": 40.0}, "why", "what next")
    assert f.runbook == "runbooks/STALLED.md"
    assert f.to_dict()["runbook"] == "runbooks/STALLED.md"
    with pytest.raises(ValueError):
        Finding("NOPE", F.ERROR, "pool", {}, "", "")
    with pytest.raises(ValueError):
        Finding(F.STALLED, "fatal", "pool", {}, "", "")
    assert F.PRIORITY[-1] == F.HEALTHY and set(F.PRIORITY) == CODES


@pytest.mark.parametrize("path", [th.__file__] + [
    str(Path(th.__file__).parent / "findings" / f"{spec.code.lower()}.py") for spec in REGISTRY
], ids=lambda p: Path(p).stem)
def test_every_threshold_is_documented(path: str) -> None:
    lines = Path(path).read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]+ = [\d(-]", line):
            assert lines[i - 1].startswith("#"), f"{line.split('=')[0].strip()} has no comment"


def test_each_finding_is_one_module_of_the_registry() -> None:
    for spec in REGISTRY:
        module = sys.modules[f"bench.analysis.diagnose.findings.{spec.code.lower()}"]
        assert module.CODE == spec.code and module.SPEC is spec
        assert module.RUNBOOK == runbook_for(spec.code)
        assert is_typeddict(module.Evidence)
        assert all(rule.__module__ == module.__name__ for rule in spec.rules)


# --- observation helpers --------------------------------------------------------------------------
def test_peak_overlap_and_gaps() -> None:
    assert peak_overlap([(0, 2), (1, 3), (2, 4)]) == 2  # an end at t closes before a start at t
    assert peak_overlap(iter([(0, 1), (0, 1), (0, 1)])) == 3
    gap = longest_gap([1.0, 2.0, 10.0], start=0.0, end=11.0)
    assert gap is not None and (gap.seconds, gap.start, gap.end) == (8.0, 2.0, 10.0)
    tail = longest_gap([1.0], start=0.0, end=50.0)
    assert tail is not None and tail.seconds == 49.0
    assert longest_gap([], start=0.0, end=5.0).seconds == 5.0  # type: ignore[union-attr]


def test_cpu_and_runnable_threads_of_a_sample() -> None:
    sample = {
        "cpu_pct_total": 150.0,
        "interval": 0.5,
        "unattributed_cpu_s": 0.25,
        "procs": [
            {"num_threads": 40, "threads": [{"cpu_pct": 30.0}] * 8},
            {"num_threads": 3, "threads": [{"cpu_pct": 50.0}, {"cpu_pct": 1.0}]},
        ],
    }
    assert cpu_cores(sample) == pytest.approx(2.0)  # 1.5 cores + 0.25 s / 0.5 s missed children
    n, truncated = runnable_threads(sample)
    assert n == 9 and truncated  # 8 listed of 40, all busy: a floor


def test_builtin_kind_table_matches_the_registry() -> None:
    from bench.analysis.diagnose.recorded import BUILTIN_KINDS, strategy_kind
    from bench.strategies import get, names

    assert set(BUILTIN_KINDS) == set(names())
    for name in names():
        assert BUILTIN_KINDS[name] == get(name).kind
    assert strategy_kind("pool", {"kind": "threads"}) == "threads"  # a recorded kind wins
    assert strategy_kind("no-such-strategy") == "unknown"


def test_one_core_on_a_full_machine_is_not_gil_evidence() -> None:
    # Without stacks, "two trials in one process at one core" means serialisation only if
    # cores were left idle; here other processes filled the machine.
    sim = S.seed_story(stacks=False)
    for s in sim.samples:
        if s.get("kind") == "tree" and s.get("run") == "optuna-threads":
            s["per_core"] = [100.0, 100.0]
    got = codes(recorded(sim))["optuna-threads"]
    assert F.GIL_BOUND not in got and F.CONTENDED in got and F.THREADS_NOT_PROCESSES in got


def test_too_few_stack_samples_are_not_evidence() -> None:
    sim = S.seed_story()
    stacks = [s for s in sim.samples if s.get("kind") == "stack" and s["run"] == "optuna-threads"]
    for s in stacks[th.MIN_STACK_SAMPLES - 1:]:
        sim.samples.remove(s)
    found = analyse(recorded(sim)).findings["optuna-threads"]
    gil = next(f for f in found if f.code == F.GIL_BOUND)
    assert gil.evidence["source"] == "cpu"  # falls back to the CPU figure, cores were idle


# --- recorded real fixtures -----------------------------------------------------------------
@pytest.mark.parametrize("fixture", REAL, ids=[p.name for p in REAL])
def test_real_fixture_shows_its_findings(fixture: Path) -> None:
    case = json.loads((fixture / "fixture.json").read_text())
    d = analyse(Recorded.load(fixture))
    for label, want in case["expect"].items():
        got = {f.code for f in d.findings[label]}
        assert set(want) <= got, f"{label}: {sorted(got)}"
        assert F.HEALTHY not in got or want == [F.HEALTHY]
    for label, bad in case["forbid"].items():
        assert not set(bad) & {f.code for f in d.findings[label]}
    for fs in d.findings.values():  # HEALTHY never sits beside a problem of the strategy
        codes = {f.code for f in fs}
        others = [f for f in fs if f.code != F.CONTENDED]
        assert F.HEALTHY not in codes or all(f.severity in (F.OK, F.INFO) for f in others)


def test_runnable_threads_prefers_the_samplers_own_count() -> None:
    from probes.tree import BUSY_THREAD_MIN_PCT

    assert BUSY_THREAD_MIN_PCT == th.RUNNABLE_THREAD_MIN_PCT  # one bar for "busy", both sides
    proc = {"num_threads": 387, "busy_threads": 120, "threads": [{"cpu_pct": 9.0}] * 8}
    sample = {"procs": [proc]}
    assert runnable_threads(sample) == (120, False)
