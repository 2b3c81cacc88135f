"""`bench watch`'s pure parts: exit codes, how trial records say the program ran, the hook's
sentence, trials left in flight, the cost line, the live line, and its rules' gating."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bench.analysis.diagnose import findings as F
from bench.analysis.diagnose.findings import RunContext, apply
from bench.analysis.diagnose.findings.undersubscribed import rule as undersubscribed
from bench.analysis.diagnose.observe import Observation
from bench.cli import main
from bench.report.watch import rate
from bench.watch import results
from bench.watch.live import LiveState
from bench.watch.process import exit_code


def test_exit_code_is_the_shells() -> None:
    assert [exit_code(0), exit_code(3), exit_code(-2), exit_code(-9)] == [0, 3, 130, 137]


def _t(number: int, start: float, end: float, pid: int = 10, mode: str = "optimize",
       state: str = "complete") -> dict[str, object]:
    return {"number": number, "start": start, "end": end, "pid": pid, "mode": mode, "state": state,
            "study": "s"}


def test_shape_from_trial_records() -> None:
    threads = [_t(0, 0, 2), _t(1, 1, 3), _t(2, 2, 4)]
    assert results.shape(threads) == ("threads", 2)
    assert results.shape([_t(0, 0, 1), _t(1, 1, 2)]) == ("threads", 1)
    journal = [_t(0, 0, 2, pid=1), _t(1, 2, 4, pid=1), _t(2, 0, 2, pid=2)]
    assert results.shape(journal) == ("processes", 2)
    pool = [_t(n, n // 2, n // 2 + 1, pid=0, mode="ask_tell") for n in range(4)]
    assert results.shape(pool) == ("processes", 2)
    assert results.shape([]) == ("unknown", 1)


def test_hook_sentences() -> None:
    armed = {"event": "armed", "pid": 1}
    assert results.read_hook([]).sentence().startswith("samples only: no Python process")
    assert "none imported Optuna" in results.read_hook([armed]).sentence()
    old = {"event": "hook", "pid": 1, "status": "not installed", "optuna": "2.10", "reason": "unsupported version"}
    hook = results.read_hook([armed, old])
    assert not hook.traced and "optuna 2.10: unsupported version" in hook.sentence()
    ok = {"event": "hook", "pid": 2, "status": "installed", "optuna": "5.0"}
    assert results.read_hook([armed, old, ok]).traced


def test_unfinished_trials_become_crashed_records() -> None:
    asks = [{"event": "ask", "number": n, "study": "s", "start": 1.0, "pid": 7, "tid": 8,
             "mode": "optimize" if n < 2 else "ask_tell"} for n in range(4)]
    done = [_t(0, 1, 2)]
    left = results.unfinished(asks, done)
    assert [e["number"] for e in left] == [1, 2, 3]
    lost = results.lost_records(left, 5.0, "the program ended")
    assert [(r["state"], r["pid"], r["end"]) for r in lost] == [
        ("crashed", 7, 5.0), ("crashed", 0, 5.0), ("crashed", 0, 5.0)]


def test_cost_line() -> None:
    trials = [_t(n, 10 * n, 10 * n + 10) for n in range(6)]  # 6 trials in 60 s: 6 per minute
    line = rate(trials, 3.0)
    assert line is not None
    assert line["trials_per_min"] == pytest.approx(6.0)
    assert line["hours_per_100"] == pytest.approx(100 / 6 / 60, rel=1e-3)
    assert line["usd_per_100"] == pytest.approx(3.0 * 100 / 6 / 60, rel=1e-3)
    assert "$0.83 on this machine at $3/h" in line["text"]
    assert rate([_t(0, 0, 1, state="failed")], 3.0) is None


def test_live_line_from_the_tracer_files(tmp_path: Path) -> None:
    trace = [{"event": "armed", "pid": 1}, {"event": "hook", "pid": 1, "status": "installed"}]
    trace += [{"event": "ask", "pid": 1, "number": n, "study": "s", "start": 100.0} for n in range(3)]
    (tmp_path / "trace.jsonl").write_text("".join(json.dumps(e) + "\n" for e in trace))
    (tmp_path / "trials.jsonl").write_text(json.dumps(_t(0, 100, 104)) + "\n" + '{"number": 1, "sta')
    live = LiveState(tmp_path, started=99.0)
    live.poll()
    live.add_sample({"kind": "tree", "n_procs": 3, "n_threads": 9, "cpu_pct_total": 150.0,
                     "capacity_pct": 200.0, "procs": []})
    line = live.line(now=110.0)
    assert "trials 1 done / 3 asked, 2 in flight, last finished 6 s ago" in line
    assert "processes 3, threads 9, CPU 150% of 200% (75% of capacity)" in line


def _obs(**kw: object) -> Observation:
    base: dict[str, object] = {"label": "watch", "usable_cores": 2, "tree_samples": 10,
                               "cpu_cores_mean": 1.8, "busy_procs_peak": 2, "trials_complete": 8,
                               "trials_ran": 8, "inflight_peak": 2, "runnable_threads_median": 2.0}
    return Observation(**{**base, **kw})  # type: ignore[arg-type]


def test_own_program_healthy_needs_the_cores_busy() -> None:
    ctx = RunContext(label="watch", kind="processes", workers=2, own_program=True)
    assert [f.code for f in apply(_obs(), ctx)] == [F.HEALTHY]
    # half the machine idle: not healthy, and the reason is named
    codes = [f.code for f in apply(_obs(cpu_cores_mean=0.9), ctx)]
    assert F.HEALTHY not in codes and F.UNDERSUBSCRIBED in codes
    # a strategy run without a sequential baseline is not judged by CPU
    plain = RunContext(label="pool", kind="processes", workers=2)
    assert F.HEALTHY not in [f.code for f in apply(_obs(), plain)]


def test_own_program_with_one_trial_at_a_time_is_undersubscribed() -> None:
    ctx = RunContext(label="watch", kind="threads", workers=1, own_program=True)
    f = undersubscribed(_obs(cpu_cores_mean=1.0, busy_procs_peak=1, inflight_peak=1), ctx)
    assert f is not None and "only 1 workers for 2 cores" in f.explanation
    assert undersubscribed(_obs(cpu_cores_mean=1.0), RunContext(label="s", kind="threads", workers=1)) is None


@pytest.mark.parametrize("argv", [
    ["watch"],
    ["watch", "--"],
    ["watch", "--duration", "0", "--", "true"],
    ["watch", "--grace", "-1", "--", "true"],
    ["watch", "--price-per-hour", "0", "--", "true"],
])
def test_bad_watch_input_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: error:")


def _positive_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


@settings(max_examples=25, deadline=None)
@given(flag=st.sampled_from(["--duration", "--grace", "--interval", "--stack-interval", "--price-per-hour"]),
       value=st.text(alphabet="0123456789.eE+-naifxy ", min_size=1, max_size=8))
def test_fuzzed_watch_numbers_are_one_line_and_exit_2(flag: str, value: str) -> None:
    # a valid number would start the command; a leading "-" reads as another flag
    assume(not _positive_number(value) and not value.startswith("-"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["watch", flag, value, "--", "true"])
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error:")


def test_trials_of_two_studies_are_not_merged() -> None:
    from bench.analysis.diagnose.observe import observe

    trials = [{**_t(n, 0, 2), "study": s} for s in ("a", "b") for n in range(2)]
    obs = observe("watch", [], 2, trials)
    assert obs.trials_ran == 4 and obs.inflight_peak == 4
