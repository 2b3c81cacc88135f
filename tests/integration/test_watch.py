"""`bench watch -- CMD` on real programs (tests/scripts/watch_*.py): trials traced from inside with
no code change, exit codes passed through, signals forwarded and escalated, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest

from bench.analysis.diagnose import run_metrics
from bench.report.json_out import schema
from bench.run.reaper import reap_zombies
from tests.support.runs import REPO, read_jsonl

SCRIPTS = REPO / "tests" / "scripts"
HOOK_ERRORS = ("Traceback", "Error in sitecustomize", "_corebench_trace")


@dataclass
class Watched:
    code: int
    out: Path
    stdout: str
    stderr: str
    meta: dict[str, Any]
    trials: list[dict[str, Any]]
    samples: list[dict[str, Any]]

    @property
    def findings(self) -> list[str]:
        return [f["code"] for f in self.meta.get("findings", [])]



def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **extra}


def _argv(out: Path, cmd: list[str], *opts: str) -> list[str]:
    return [sys.executable, "-m", "bench", "watch", "--out", str(out), "--stack-interval", "0.5",
            *opts, "--", *cmd]


def _collect(code: int, out: Path, stdout: str, stderr: str) -> Watched:
    meta = json.loads((out / "run.json").read_text())
    return Watched(code, out, stdout, stderr, meta, read_jsonl(out / "trials.jsonl"),
                   read_jsonl(out / "samples.jsonl"))


def watch(tmp_path: Path, cmd: list[str], *opts: str, env: dict[str, str] | None = None,
          timeout: float = 180) -> Watched:
    out = tmp_path / "watch"
    # Files, not pipes: a command left running (--duration) keeps the streams it inherited open.
    logs = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with logs[0].open("w") as so, logs[1].open("w") as se:
        code = subprocess.run(_argv(out, cmd, *opts), cwd=REPO, env=env or _env(), stdout=so, stderr=se,
                              timeout=timeout).returncode
    return _collect(code, out, logs[0].read_text(), logs[1].read_text())


def py(script: str, *args: str) -> list[str]:
    return [sys.executable, str(SCRIPTS / script), *args]


def study_trials(stdout: str) -> int:
    line = next(x for x in stdout.splitlines() if x.startswith("study trials:"))
    return int(line.split(":")[1])


@pytest.mark.slow
def test_threads_search_is_traced_and_named(tmp_path: Path) -> None:
    w = watch(tmp_path, py("watch_threads_search.py", "6", "400000"))
    assert w.code == 0, w.stderr
    assert not any(e in w.stderr for e in HOOK_ERRORS)
    # Every trial the study ran has a record, written from inside the program.
    assert len(w.trials) == study_trials(w.stdout) == 6
    assert {t["state"] for t in w.trials} == {"complete"}
    assert {t["mode"] for t in w.trials} == {"optimize"}
    pid = w.meta["pid"]
    assert {t["pid"] for t in w.trials} == {pid}
    assert len({t["tid"] for t in w.trials}) == 2  # n_jobs=2: two trial threads
    assert all(t["params"].keys() == {"lr"} and t["end"] > t["start"] for t in w.trials)
    run = read_jsonl(w.out / "runs.jsonl")[-1]
    assert run["kind"] == "threads" and run["workers"] == 2 and run["trials_traced"]
    assert "THREADS_NOT_PROCESSES" in w.findings
    assert "HEALTHY" not in w.findings
    if "CONTENDED" not in w.findings:
        stacks = [s for s in w.samples if s["kind"] == "stack" and s["pid"] == pid]
        assert sum(s["counts"].get("waiting_gil", 0) for s in stacks) > 0  # py-spy saw threads queue
        assert "GIL_BOUND" in w.findings
    # else: other jobs held the cores, so the trial threads sat in the run queue more than on the
    # GIL's futex and the kernel's GIL-wait share can fall under its threshold; not named then.
    assert w.meta["watch"]["cost"]["trials_per_min"] > 0
    report = (w.out / "report.md").read_text()
    assert "## The watched program" in report and "THREADS_NOT_PROCESSES" in report
    assert "100 trials take" in report
    # `bench report` re-renders it from the saved files; `bench gate` gates it
    (w.out / "report.md").unlink()
    again = subprocess.run([sys.executable, "-m", "bench", "report", str(w.out), "--price-per-hour", "2"],
                           cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    rerendered = (w.out / "report.md").read_text()
    assert "## The watched program" in rerendered and "on this machine at $2/h" in rerendered
    assert "THREADS_NOT_PROCESSES" in run_metrics(w.out)["watch"]["findings"]
    rules = tmp_path / "gate.toml"
    rules.write_text('[gate.watch]\nforbid = ["THREADS_NOT_PROCESSES"]\n')
    gate = subprocess.run([sys.executable, "-m", "bench", "gate", str(w.out), "--config", str(rules)],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert gate.returncode == 1, gate.stdout + gate.stderr


@pytest.mark.slow
@pytest.mark.parametrize("duty", [0.4, 0.5, 1.0])
def test_workers_runnable_in_every_sample_are_healthy_only_when_they_use_the_cores(
    tmp_path: Path, duty: float
) -> None:
    """Two worker processes, each busy `duty` of every 0.1 s: runnable in every sample, but at
    duty 0.4 or 0.5 half the cores or more sit idle. HEALTHY needs the cores used, not only
    runnable threads (it was HEALTHY at 0.5 and 0.65: 1.1 of 2 cores busy at 0.65). At most
    2 x duty cores can be busy, under HEALTHY's 70% of whatever a quiet machine leaves."""
    w = watch(tmp_path, py("duty_workers.py", str(duty), "5"))
    assert w.code == 0, w.stderr
    if "CONTENDED" in w.findings:
        return  # other jobs took cores: what the workers could have used is not measured
    verdict = (w.out / "report.md").read_text()
    if duty < 1.0:
        assert "HEALTHY" not in w.findings, w.findings
        # Said as a fault or as inconclusive, never as a clean bill of health.
        assert "UNDERSUBSCRIBED" in w.findings or "health inconclusive" in verdict, (w.findings, verdict)
    else:
        assert w.findings == ["HEALTHY"], w.findings


@pytest.mark.slow
def test_pool_with_ask_tell_in_the_parent(tmp_path: Path) -> None:
    w = watch(tmp_path, py("watch_pool_asktell.py", "8", "200000"))
    assert w.code == 0, w.stderr
    assert len(w.trials) == study_trials(w.stdout) == 8
    assert {t["mode"] for t in w.trials} == {"ask_tell"}
    # The objective ran in the pool: the records do not claim the asking process ran it.
    assert {t["pid"] for t in w.trials} == {0}
    assert {t["worker"] for t in w.trials} == {""}  # nor that its thread was the worker
    assert {t["client_pid"] for t in w.trials} == {w.meta["pid"]}
    trees = [s for s in w.samples if s["kind"] == "tree"]
    children = {p["pid"] for s in trees for p in s["procs"] if not p.get("is_root")}
    assert len(children) >= 2  # the two pool workers were seen
    run = read_jsonl(w.out / "runs.jsonl")[-1]
    assert run["kind"] == "processes" and run["workers"] == 2
    assert not {"THREADS_NOT_PROCESSES", "GIL_BOUND"} & set(w.findings)
    if not w.findings:
        # Its 2 workers keep 64-80% of 2 cores busy (the parent asks and tells between trials):
        # near HEALTHY's bar of 70%, short of which, and above UNDERSUBSCRIBED's 60%, no rule
        # speaks. Then neither the terminal nor the report may read as a clean bill of health.
        assert "none: not enough evidence for any rule" in w.stderr + w.stdout, w.stderr
        verdict = (w.out / "report.md").read_text()
        assert "`watch` has no finding either way" in verdict and "health inconclusive" in verdict
    # else: HEALTHY, or what made it not (CONTENDED on a loaded machine, ...)


@pytest.mark.slow
def test_two_processes_sharing_one_journal_study(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    w = watch(tmp_path, py("watch_journal_pair.py", str(journal), "3"))
    assert w.code == 0, w.stderr
    assert len(w.trials) == study_trials(w.stdout) == 6
    by_pid: dict[int, list[int]] = {}
    for t in w.trials:
        by_pid.setdefault(t["pid"], []).append(t["number"])
    assert len(by_pid) == 2 and all(len(v) == 3 for v in by_pid.values())
    assert sorted(n for v in by_pid.values() for n in v) == list(range(6))  # one study
    assert w.meta["pid"] not in by_pid  # the parent only waited
    run = read_jsonl(w.out / "runs.jsonl")[-1]
    assert run["kind"] == "processes" and run["workers"] == 2
    assert "THREADS_NOT_PROCESSES" not in w.findings


def test_exit_code_is_passed_through(tmp_path: Path) -> None:
    w = watch(tmp_path, py("watch_endings.py", "exit", "3"), "--no-report", "--json", "-")
    assert w.code == 3
    assert w.meta["watch"]["exit_code"] == 3 and len(w.trials) == 3
    assert read_jsonl(w.out / "runs.jsonl")[-1]["status"] == "failed"
    # --json -: stdout is the results document alone; the program's own output went to stderr
    doc = json.loads(w.stdout)
    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)
    assert doc["command"] == "watch" and "trials done" in w.stderr


def test_killed_by_a_signal_is_128_plus_n(tmp_path: Path) -> None:
    w = watch(tmp_path, py("watch_endings.py", "signal", "SIGTERM"), "--no-report")
    assert w.code == 128 + signal.SIGTERM
    assert w.meta["watch"]["returncode"] == -signal.SIGTERM
    assert len(w.trials) == 3  # written as they ended, before the kill


def _wait_for(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_sigint_is_forwarded_then_escalated(tmp_path: Path) -> None:
    out = tmp_path / "watch"
    log = tmp_path / "stdout.txt"
    with log.open("w") as fh:
        bench = subprocess.Popen(
            _argv(out, py("watch_endings.py", "ignore-sigint"), "--grace", "1", "--no-report"),
            cwd=REPO, env=_env(), stdout=fh, stderr=subprocess.PIPE, text=True,
        )
        try:
            _wait_for(log, "ignoring SIGINT")
            meta = json.loads((out / "run.json").read_text())
            group = [p for p in psutil.process_iter() if _pgid(p.pid) == meta["pid"]]
            assert len(group) >= 2  # the program and its child
            bench.send_signal(signal.SIGINT)  # what Ctrl-C does to bench
            _, stderr = bench.communicate(timeout=60)
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.wait()
    w = _collect(bench.returncode, out, log.read_text(), stderr)
    # SIGINT was ignored, SIGTERM (the first escalation) ended it
    assert w.meta["watch"]["stop"]["signals"][:2] == ["SIGINT", "SIGTERM"]
    assert w.code == 128 + signal.SIGTERM
    assert read_jsonl(w.out / "runs.jsonl")[-1]["status"] == "interrupted"
    assert not [p for p in group if _alive(p)]


def _kill_group(pgid: int) -> None:
    """End a command a test left running on purpose (its group is its pid)."""
    members = [p for p in psutil.process_iter() if _pgid(p.pid) == pgid]
    for p in members:
        p.kill()
    psutil.wait_procs(members, timeout=5)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_non_python_command_is_samples_only(tmp_path: Path) -> None:
    w = watch(tmp_path, ["sh", "-c", "sleep 2"])
    assert w.code == 0
    assert not any(e in w.stderr for e in HOOK_ERRORS)
    assert w.trials == []
    hook = w.meta["watch"]["hook"]
    assert not hook["traced"] and hook["sentence"].startswith("samples only")
    assert [s for s in w.samples if s["kind"] == "tree"]
    assert "STALLED" not in w.findings  # no trial records is not "no progress"
    assert "samples only" in (w.out / "report.md").read_text()


def test_program_with_its_own_sitecustomize(tmp_path: Path) -> None:
    env = _env(PYTHONPATH=f"{SCRIPTS / 'own_site'}{os.pathsep}{REPO}")
    w = watch(tmp_path, py("watch_own_site.py"), "--no-report", env=env)
    assert w.code == 0, w.stderr
    assert "own sitecustomize: yes" in w.stdout
    assert len(w.trials) == study_trials(w.stdout) == 4


def test_duration_ends_the_watch_and_leaves_the_program(tmp_path: Path) -> None:
    w = watch(tmp_path, ["sleep", "60"], "--duration", "1.5", "--no-report", "--no-stacks")
    try:
        assert w.code == 0
        assert w.meta["watch"]["left_running"] is True
        assert "left running" in w.stdout + w.stderr
        assert psutil.Process(w.meta["pid"]).is_running()
    finally:
        _kill_group(w.meta["pid"])


def test_bad_command_is_one_line_exit_2(tmp_path: Path) -> None:
    w_out = tmp_path / "watch"
    proc = subprocess.run(_argv(w_out, ["/no/such/program"]), cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["bench: error: cannot run '/no/such/program': no such program"]


@pytest.mark.slow
def test_stuck_search_is_stalled(tmp_path: Path) -> None:
    # STALL_MIN_GAP_S is 30 s: the watch must outlast it.
    w = watch(tmp_path, py("watch_stuck.py"), "--duration", "32", "--no-stacks")
    try:
        assert w.code == 0 and w.meta["watch"]["left_running"]
        assert w.trials == []  # none finished
        assert w.meta["watch"]["in_flight_at_end"] == 2  # both asked, both stuck
        assert "STALLED" in w.findings
        stalled = next(f for f in w.meta["findings"] if f["code"] == "STALLED")
        assert stalled["evidence"]["trials_done"] == 0 and stalled["evidence"]["gap_s"] >= 30
        assert "HEALTHY" not in w.findings
    finally:
        _kill_group(w.meta["pid"])


def test_a_daemon_the_program_leaves_behind_is_stopped(tmp_path: Path) -> None:
    # `setsid` takes the sleep out of the program's group; when the shell exits it is orphaned
    # and re-parented to bench (a subreaper), which stops it before it returns.
    w = watch(tmp_path, ["sh", "-c", "setsid sleep 120 & sleep 1.5; exit 0"], "--no-report", "--no-stacks")
    assert w.code == 0
    stopped = w.meta["leftovers_stopped"]
    assert len(stopped) == 1
    assert not psutil.pid_exists(stopped[0]) or not _alive(psutil.Process(stopped[0]))


def test_trials_in_flight_when_the_program_is_killed_are_crashed(tmp_path: Path) -> None:
    out = tmp_path / "watch"
    log = tmp_path / "stdout.txt"
    with log.open("w") as fh:
        bench = subprocess.Popen(_argv(out, py("watch_stuck.py"), "--grace", "1", "--no-report", "--no-stacks"),
                                 cwd=REPO, env=_env(), stdout=fh, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(out / "trace.jsonl", '"event": "ask"')
            time.sleep(0.5)  # both threads asked
            bench.send_signal(signal.SIGINT)
            _, stderr = bench.communicate(timeout=60)
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.wait()
    w = _collect(bench.returncode, out, log.read_text(), stderr)
    # SIGINT reaches the main thread; the trial threads stay in their waits, so the program ends
    # with its trials unfinished (by the KeyboardInterrupt or by bench's escalation).
    assert w.meta["watch"]["in_flight_at_end"] == len(w.trials) >= 1
    assert {t["state"] for t in w.trials} == {"crashed"}
    assert all(t["pid"] == w.meta["pid"] and "before the trial did" in t["error"] for t in w.trials)


@pytest.mark.slow
def test_kill_9_of_bench_ends_the_watched_program(tmp_path: Path) -> None:
    """Nothing in bench runs after SIGKILL: its guardian ends the command and what it started."""
    out = tmp_path / "watch"
    cmd = [sys.executable, "-c", "import subprocess, time; subprocess.Popen(['sleep', '120']); time.sleep(120)"]
    bench = subprocess.Popen(_argv(out, cmd, "--no-stacks"), cwd=REPO, env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    pid = None
    while time.time() < deadline and pid is None:
        try:
            pid = json.loads((out / "run.json").read_text()).get("pid")
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    assert pid, "bench watch never recorded the command's pid"
    program = psutil.Process(pid)
    time.sleep(1.0)  # the command has started its own child by now
    family = [program, *program.children(recursive=True)]
    assert len(family) >= 2
    bench.kill()
    bench.wait()
    end = time.time() + 5.0
    while time.time() < end and any(_alive(p) for p in family):
        reap_zombies()  # pytest is a subreaper: the killed run's orphans come to it
        time.sleep(0.1)
    reap_zombies()
    assert not [p.pid for p in family if _alive(p)], "the watched program outlived a kill -9 of bench"
    assert json.loads((out / "run.json").read_text())["pid"] == pid  # what was recorded stays
