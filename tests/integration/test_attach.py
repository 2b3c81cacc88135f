"""`bench attach` against a live Optuna n_jobs=2 search (threads of one process), in process."""

from __future__ import annotations

import argparse
import json
import os
import stat
import time
from pathlib import Path

import pytest

import probes.pyspy
from bench.cli import attach as attach_cmd
from bench.cli._attach_target import is_kernel_thread
from bench.errors import ConfigError, ProbeError
from bench.records.rundir import SCHEMA_VERSION
from tests.scripts.targets import target
from tests.support.marks import needs_py_spy


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench attach")
    attach_cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@needs_py_spy
def test_attach_to_an_optuna_thread_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "attach"
    with target("optuna_threads_search.py", "25") as proc:
        code = attach_cmd.run(parse(
            "--pid", str(proc.pid), "--duration", "3", "--interval", "0.5",
            "--stack-interval", "0.5", "--out", str(out),
        ))
    assert code == 0
    samples = read_jsonl(out / "samples.jsonl")
    assert samples and all(s["run"] == "attach" for s in samples)
    trees = [s for s in samples if s["kind"] == "tree"]
    stacks = [s for s in samples if s["kind"] == "stack"]
    assert len(trees) >= 4 and len(stacks) >= 3
    # Optuna's n_jobs=2 is threads: one process, main + 2 trial threads
    assert {t["n_procs"] for t in trees} == {1}
    assert min(t["n_threads"] for t in trees) >= 3
    assert {s["pid"] for s in stacks} == {proc.pid}
    assert max(sum(s["counts"].values()) for s in stacks) >= 3
    assert sum(s["counts"]["gil"] + s["counts"]["waiting_gil"] for s in stacks) > 0

    meta = json.loads((out / "run.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION
    assert meta["kind"] == "attach" and meta["pid"] == proc.pid
    assert "optuna_threads_search.py" in meta["cmdline"]
    assert meta["machine"]["usable_cores"] >= 1
    assert meta["end"] > meta["start"] and meta["duration"] >= 3
    assert meta["summary"]["procs_peak"] == 1
    # The kernel's view of the two trial threads: pure Python sharing one GIL
    assert meta["summary"]["syscall_reads"] > 0
    assert meta["summary"]["gil_blocked_reads"] > 0
    printed = capsys.readouterr().out
    assert "attach summary" in printed and str(out) in printed
    assert "time waiting for the GIL" in printed


def test_attach_without_stacks_needs_no_py_spy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(probes.pyspy, "find_py_spy", lambda: None)
    with target("sleeping_children.py", "2", "20") as proc:
        code = attach_cmd.run(parse(
            "--pid", str(proc.pid), "--duration", "1", "--interval", "0.25", "--no-stacks",
            "--out", str(tmp_path / "o"),
        ))
    assert code == 0
    samples = read_jsonl(tmp_path / "o" / "samples.jsonl")
    assert {s["kind"] for s in samples} == {"tree"}
    assert all(s["n_procs"] == 3 for s in samples)
    assert "processes" in capsys.readouterr().out  # the plain progress line (not a TTY)


def test_attach_ends_when_the_target_exits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with target("busy_threads.py", "1", "1.5") as proc:
        t0 = time.monotonic()
        attach_cmd.run(parse(
            "--pid", str(proc.pid), "--duration", "60", "--no-stacks", "--out", str(tmp_path / "o"),
        ))
        took = time.monotonic() - t0
    # Ended by the exit (at 1.5 s), not by --duration: the margin is for a loaded machine.
    assert took < 30
    assert f"process {proc.pid} exited" in capsys.readouterr().out
    meta = json.loads((tmp_path / "o" / "run.json").read_text())
    assert meta["duration"] < 30 and meta["summary"]["tree_samples"] >= 1


def test_attach_to_a_missing_pid_is_a_probe_error(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="no process with pid"):
        attach_cmd.run(parse("--pid", "999999999", "--duration", "1", "--out", str(tmp_path)))
    assert not (tmp_path / "samples.jsonl").exists()


def test_bad_duration_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--duration"):
        attach_cmd.run(parse("--pid", str(os.getpid()), "--duration", "0", "--out", str(tmp_path)))


def test_ptrace_refusal_is_a_probe_error_that_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "py-spy"
    fake.write_text(
        "#!/bin/sh\n"
        "echo \"Permission Denied: Try running again with elevated permissions\" >&2\n"
        "exit 1\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(probes.pyspy, "find_py_spy", lambda: str(fake))
    with pytest.raises(ProbeError) as info:
        attach_cmd.run(
            parse("--pid", str(os.getpid()), "--duration", "1", "--out", str(tmp_path / "o"))
        )
    message = str(info.value)
    assert "ptrace_scope" in message and "SYS_PTRACE" in message and "--no-stacks" in message
    assert "\n" not in message


def _a_kernel_thread() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_kernel_thread(int(entry.name)):
            return int(entry.name)
    return None


def test_a_kernel_thread_is_refused_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--pid 2` (kthreadd, alive) was reported as a process that exited."""
    from bench.cli import main

    pid = _a_kernel_thread()
    if pid is None:
        pytest.skip("no kernel thread is visible in this PID namespace")
    assert main(["attach", "--pid", str(pid), "--duration", "1", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pid {pid} (" in err[0] and "is a kernel thread" in err[0], err
    assert not (tmp_path / "a").exists()


@needs_py_spy
@pytest.mark.skipif(os.geteuid() != 0, reason="the advice for root is under test")
def test_attach_to_init_as_root_does_not_advise_running_as_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--pid 1` as root said "py-spy needs ptrace permission ... run as root"."""
    from bench.cli import main

    code = main(["attach", "--pid", "1", "--duration", "1", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    if code == 0:
        return  # py-spy may read init here (e.g. no PID namespace, no VM): then it is probed
    assert code == 2
    assert "run as root" not in err and "needs ptrace permission" not in err, err
    assert "even as root" in err and "--no-stacks" in err


def test_until_exit_watches_to_the_end_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    with target("busy_threads.py", "1", "2.5") as proc:
        t0 = time.monotonic()
        code = attach_cmd.run(parse(
            "--pid", str(proc.pid), "--until-exit", "--no-stacks", "--interval", "0.25",
            "--out", str(out),
        ))
        took = time.monotonic() - t0
    assert code == 0 and took < 10
    meta = json.loads((out / "run.json").read_text())
    assert meta["until_exit"] is True and "interrupted" not in meta
    assert meta["summary"]["tree_samples"] >= 4  # all 2.5 s of it, not a fixed duration
    assert meta["verdict"] and (out / "report.md").is_file()
    printed = capsys.readouterr().out
    assert "until it exits" in printed and f"process {proc.pid} exited" in printed
    assert printed.index("Verdict: ") < printed.index("attach summary")


@pytest.mark.parametrize("until_exit", [True, False], ids=["until-exit", "duration"])
def test_ctrl_c_ends_the_watch_and_still_writes_the_report(tmp_path: Path, until_exit: bool) -> None:
    import signal
    import subprocess
    import sys

    out = tmp_path / "o"
    with target("sleeping_children.py", "1", "30") as proc:
        argv = [sys.executable, "-m", "bench", "attach", "--pid", str(proc.pid), "--no-stacks",
                "--interval", "0.25", "--out", str(out)]
        argv += ["--until-exit"] if until_exit else ["--duration", "30"]
        # Ctrl-C's default action even when this test runs with SIGINT ignored (a background job
        # of a script: Python then installs no KeyboardInterrupt handler, as it should).
        watcher = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (out / "samples.jsonl").exists():
                time.sleep(0.1)
            time.sleep(1.0)
            watcher.send_signal(signal.SIGINT)
            # Generous: ending includes the diagnosis and the report (plots), slow on a busy machine.
            stdout, stderr = watcher.communicate(timeout=180)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
    # --until-exit: Ctrl-C is the ordinary end of the watch; otherwise it is an interruption
    assert watcher.returncode == (0 if until_exit else 128 + signal.SIGINT), stderr
    assert "Traceback" not in stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["interrupted"] is True and meta["verdict"]
    assert "Verdict: " in stdout and (out / "report.md").is_file()
    assert "interrupted (Ctrl-C)" in (out / "report.md").read_text()


def test_quiet_attach_prints_only_the_verdict_and_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "quiet"
    with target("sleeping_children.py", "1", "30") as proc:
        code = attach_cmd.run(parse(
            "--pid", str(proc.pid), "--duration", "1.5", "--interval", "0.25", "--no-stacks",
            "--out", str(out), "-q",
        ))
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("Verdict: ") and lines[1] == f"report: {out / 'report.md'}"
    assert (out / "report.md").is_file()
