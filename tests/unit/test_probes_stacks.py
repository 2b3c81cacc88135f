"""Thread-state classification and py-spy error handling, on recorded and constructed py-spy JSON.

The recorded threads come from `py-spy 0.4.3 dump --json --nonblocking` of the tests/scripts
targets (busy_threads.py 3, proc_pool.py, optuna_threads_search.py, torch_threads.py) on
Python 3.11, trimmed to the fields the probe reads; SOURCE holds the source lines those frames
pointed at, so the tests do not depend on this machine's standard library.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from probes.pyspy import PTRACE_HELP, PySpyError, classify_error, dump
from probes.stacks import NOTE_AFTER_FAILURES, StackSampler
from probes.threadstate import classify_thread, is_blocking_frame, source_reader, stack_sample

STDLIB = "/usr/lib/python3.11"
# py-spy 0.4.3's message when ptrace is refused
DENIED = "Permission Denied: Try running again with elevated permissions by going 'sudo env'"
SOURCE = {
    ("busy_threads.py", 14): "x = (x * 31 + i) % 1_000_003",
    (f"{STDLIB}/threading.py", 1139): "if lock.acquire(block, timeout):",
    (f"{STDLIB}/multiprocessing/connection.py", 395): "chunk = read(handle, remaining)",
    (f"{STDLIB}/multiprocessing/pool.py", 531):
        "for taskseq, set_length in iter(taskqueue.get, None):",
    (f"{STDLIB}/selectors.py", 415): "fd_event_list = self._selector.poll(timeout)",
    (f"{STDLIB}/concurrent/futures/thread.py", 81): "work_item = work_queue.get(block=True)",
    ("optuna_threads_search.py", 15): "acc += (x * i) % 7.0",
    ("torch_threads.py", 23): "c = a @ b",
    ("app.py", 7): "time.sleep(0.5)",
    ("app.py", 9): "total = sum(parts)",
}


def source(frame: dict[str, Any]) -> str:
    return SOURCE.get((frame["filename"], frame["line"]), "")


def thread(
    name: str, active: bool, gil: bool, *frames: tuple[str, str, int], tid: int = 1
) -> dict[str, Any]:
    return {
        "pid": 100, "thread_id": 140000000000000 + tid, "thread_name": name, "os_thread_id": tid,
        "active": active, "owns_gil": gil,
        "frames": [
            {"name": n, "filename": f, "short_filename": f.rsplit("/", 1)[-1], "line": line,
             "module": None, "locals": None, "is_entry": False, "is_shim_entry": False}
            for n, f, line in frames
        ],
        "process_info": None,
    }


RUN = ("Thread.run", f"{STDLIB}/threading.py", 982)
BUSY = [  # busy_threads.py 3: one thread holds the GIL, two wait for it, main joins
    thread("busy-2", False, False, ("spin", "busy_threads.py", 14), RUN, tid=11),
    thread("busy-1", False, False, ("spin", "busy_threads.py", 14), RUN, tid=12),
    thread("busy-0", True, True, ("spin", "busy_threads.py", 14), RUN, tid=13),
    thread("MainThread", False, False,
           ("Thread._wait_for_tstate_lock", f"{STDLIB}/threading.py", 1139),
           ("Thread.join", f"{STDLIB}/threading.py", 1119), tid=10),
]
POOL_PARENT = [  # proc_pool.py: the parent's handler threads all wait
    thread("Thread-3 (_handle_results)", False, False,
           ("Connection._recv", f"{STDLIB}/multiprocessing/connection.py", 395), tid=21),
    thread("Thread-2 (_handle_tasks)", False, False,
           ("Pool._handle_tasks", f"{STDLIB}/multiprocessing/pool.py", 531), RUN, tid=22),
    thread("Thread-1 (_handle_workers)", False, False,
           ("_PollLikeSelector.select", f"{STDLIB}/selectors.py", 415), tid=23),
    thread("MainThread", False, False,
           ("Condition.wait", f"{STDLIB}/threading.py", 331), tid=20),
]
OPTUNA_SCRIPT = "optuna_threads_search.py"
OPTUNA = [  # optuna n_jobs=2: one trial thread runs, the other waits for the GIL or between trials
    thread("ThreadPoolExecutor-0_1", True, True, ("objective", OPTUNA_SCRIPT, 15), tid=31),
    thread("ThreadPoolExecutor-0_0", False, False, ("objective", OPTUNA_SCRIPT, 15), tid=32),
    thread("ThreadPoolExecutor-0_2", True, False,
           ("_worker", f"{STDLIB}/concurrent/futures/thread.py", 81), RUN, tid=33),
    thread("MainThread", False, False, ("Condition.wait", f"{STDLIB}/threading.py", 327), tid=30),
]
TORCH = [  # torch_threads.py: the only Python thread is inside a matmul, GIL released
    thread("MainThread", True, False, ("main", "torch_threads.py", 23), tid=40),
]


def states(traces: list[dict[str, Any]]) -> list[str]:
    single = len(traces) == 1
    return [classify_thread(t, single_thread=single, source_line=source) for t in traces]


def test_gil_bound_threads() -> None:
    assert states(BUSY) == ["waiting_gil", "waiting_gil", "gil", "idle"]


def test_pool_handler_threads_are_idle() -> None:
    assert states(POOL_PARENT) == ["idle"] * 4


def test_optuna_trial_threads() -> None:
    assert states(OPTUNA) == ["gil", "waiting_gil", "idle", "idle"]


def test_torch_kernel_is_native() -> None:
    assert states(TORCH) == ["native"]


def test_a_blocked_single_thread_is_native_not_waiting_for_a_gil_nobody_holds() -> None:
    blocked = thread("MainThread", False, False, ("main", "torch_threads.py", 23))
    assert classify_thread(blocked, single_thread=True, source_line=source) == "native"
    assert classify_thread(blocked, single_thread=False, source_line=source) == "waiting_gil"


def test_sleep_in_c_is_idle_by_its_source_line() -> None:
    sleeper = thread("w", False, False, ("loop", "app.py", 7))
    worker = thread("w", False, False, ("loop", "app.py", 9))
    assert classify_thread(sleeper, source_line=source) == "idle"
    assert classify_thread(worker, source_line=source) == "waiting_gil"


def test_no_frames_is_idle_and_gil_wins_over_a_wait() -> None:
    assert classify_thread(thread("t", True, False)) == "idle"
    holder = thread("t", True, True, ("Condition.wait", f"{STDLIB}/threading.py", 327))
    assert classify_thread(holder, source_line=source) == "gil"


@pytest.mark.parametrize(
    ("line", "blocking"),
    [
        ("time.sleep(1)", True),
        ("item = q.get()", True),
        ("item = q.get(timeout=1.0)", True),
        ("value = d.get(key, 0)", False),
        ("conn, addr = sock.accept()", True),
        ("data = sock.recv_into(buf)", True),
        ("if lock.acquire(False):", True),
        ("fut.wait()", True),
        ("path = os.path.join(a, b)", False),
        ("x = compute(y) + 1", False),
        ("for job in iter(inbox.get, None):", True),
    ],
)
def test_blocking_source_lines(line: str, blocking: bool) -> None:
    frame = {"name": "f", "filename": "x.py", "line": 1}
    assert is_blocking_frame(frame, lambda f: line) is blocking


def test_default_source_lines_come_from_the_file(tmp_path: Path) -> None:
    src = tmp_path / "mod.py"
    src.write_text("import time\n\ndef f():\n    time.sleep(10)\n")
    frame = {"name": "f", "filename": str(src), "line": 4}
    assert is_blocking_frame(frame)
    assert not is_blocking_frame({"name": "f", "filename": "<string>", "line": 1})


def test_source_lines_are_read_as_the_target_sees_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "job.py").write_text("def f():\n    q.get()\n    return 1\n")
    monkeypatch.chdir(tmp_path)  # a relative co_filename resolves against the target's cwd
    read = source_reader(os.getpid())
    assert read({"filename": "job.py", "line": 2}) == "q.get()"
    assert read({"filename": str(tmp_path / "job.py"), "line": 3}) == "return 1"
    assert read({"filename": "job.py", "line": 99}) == ""
    assert read({"filename": "missing.py", "line": 1}) == ""


def test_stack_sample_shape() -> None:
    s = stack_sample(100, OPTUNA, 123.0, source_line=source)
    assert set(s) == {"kind", "t", "pid", "threads", "counts"}
    assert s["kind"] == "stack" and s["pid"] == 100 and s["t"] == 123.0
    assert s["counts"] == {"gil": 1, "native": 0, "waiting_gil": 1, "idle": 2}
    first = s["threads"][0]
    assert set(first) == {"tid", "name", "state", "active", "owns_gil", "frames"}
    assert first["tid"] == 31  # the kernel tid, as in tree samples
    assert first["frames"] == ["objective (optuna_threads_search.py:15)"]
    assert all(len(t["frames"]) <= 5 for t in s["threads"])


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        (DENIED, "permission"),
        ("Error: Operation not permitted (os error 1)", "permission"),
        ("Error: Failed to get process executable name. Check that the process is running.\n"
         "Caused by:\n    No such file or directory (os error 2)", "gone"),
        ("Error: Failed to find python version from target process", "not_python"),
        ("Error: something new", "other"),
    ],
)
def test_py_spy_errors(stderr: str, kind: str) -> None:
    assert classify_error(stderr) == kind


def fake_py_spy(tmp_path: Path, body: str) -> str:
    exe = tmp_path / "py-spy"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def test_dump_reports_ptrace_refusal(tmp_path: Path) -> None:
    exe = fake_py_spy(tmp_path, f'echo "{DENIED}" >&2; exit 1')
    with pytest.raises(PySpyError) as info:
        dump(1, exe)
    assert info.value.kind == "permission"


def test_dump_kills_a_hung_py_spy(tmp_path: Path) -> None:
    exe = fake_py_spy(tmp_path, "exec sleep 30")
    t0 = time.monotonic()
    with pytest.raises(PySpyError) as info:
        dump(1, exe, timeout=0.3)
    assert info.value.kind == "timeout" and time.monotonic() - t0 < 5


class Notes(list[dict[str, Any]]):
    lock = threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.append(record)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (f'echo "{DENIED}" >&2; exit 1', "ptrace"),
        (None, "not found"),
    ],
    ids=["ptrace", "missing"],
)
def test_sampler_emits_one_note_and_stops(tmp_path: Path, body: str | None, words: str) -> None:
    exe = fake_py_spy(tmp_path, body) if body else str(tmp_path / "no-such-py-spy")
    records = Notes()
    sampler = StackSampler(1, records, interval=0.05, pids_fn=lambda: [1, 2], py_spy=exe)
    with sampler:
        time.sleep(0.4)
    assert len(records) == 1
    (note,) = records
    assert note["kind"] == "note" and note["probe"] == "stack" and note["level"] == "warning"
    assert words in note["message"]
    if body:
        assert PTRACE_HELP in note["message"]
        for advice in ("root", "ptrace_scope", "SYS_PTRACE"):
            assert advice in note["message"]
    assert sampler.disabled is not None


def test_a_passing_failure_is_quiet_and_a_lasting_one_noted_once(tmp_path: Path) -> None:
    exe = fake_py_spy(tmp_path, "echo 'Error: Failed to get stack traces' >&2; exit 1")
    records = Notes()
    sampler = StackSampler(os.getpid(), records, py_spy=exe)
    for _ in range(NOTE_AFTER_FAILURES - 1):
        assert sampler.sample_pid(os.getpid()) is None
    assert records == []
    for _ in range(3):
        sampler.sample_pid(os.getpid())
    assert [r["level"] for r in records] == ["info"]
    assert "Failed to get stack traces" in records[0]["message"]
    assert sampler.disabled is None


def test_sampler_stop_kills_an_in_flight_dump(tmp_path: Path) -> None:
    exe = fake_py_spy(tmp_path, "exec sleep 30")
    records = Notes()
    sampler = StackSampler(1, records, interval=0.05, pids_fn=lambda: [1], py_spy=exe).start()
    time.sleep(0.3)
    t0 = time.monotonic()
    sampler.stop()
    assert time.monotonic() - t0 < 1.0
    sampler.stop()  # idempotent
    assert records == []
